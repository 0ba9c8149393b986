"""Save and load a RenderPlan (arrays only) so the render stage can run anywhere."""
from __future__ import annotations

import os
from dataclasses import fields

import numpy as np

from lipdub.render.renderer import RenderPlan


def save_plan(plan: RenderPlan, path: str) -> None:
    staging = f"{path}.tmp.npz"
    np.savez(staging, **{f.name: getattr(plan, f.name) for f in fields(RenderPlan)})
    os.replace(staging, path)


def load_plan(path: str) -> RenderPlan:
    with np.load(path) as arrays:
        return RenderPlan(**{f.name: arrays[f.name] for f in fields(RenderPlan)})
