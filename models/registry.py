"""Pick a motion model by name (the config's ``motion_model``)."""
from __future__ import annotations

import numpy as np

from models.baselines import LoudnessMotionModel, OracleMotionModel
from models.motion import MotionModel


def default_motion_model() -> MotionModel:
    """Viseme rules with a per-speaker ridge calibration on top (falls back to scaled rules)."""
    from models.speaker_calibration import CalibratedMotionModel

    return CalibratedMotionModel()


def build_motion_model(spec: str = "default", checkpoint: str | None = None, device: str = "cpu") -> MotionModel:
    """"default", "rules", "loudness", or "oracle:<path to .npy targets>".

    "default" with a ``checkpoint`` (a ``lipdub train`` file, path or URI) is the learned model;
    without one, the viseme rules with speaker calibration. ``device``: where the learned model's
    network runs (the rules are numpy).
    """
    if spec == "default" and checkpoint:
        from models.learned_motion import LearnedMotionModel

        return LearnedMotionModel.from_uri(checkpoint, device=device)
    if spec == "default":
        return default_motion_model()
    if spec == "rules":
        from models.viseme_rules import VisemeRulesModel

        return VisemeRulesModel()
    if spec == "loudness":
        return LoudnessMotionModel()
    if spec.startswith("oracle:"):
        return OracleMotionModel(np.load(spec.removeprefix("oracle:")))
    raise ValueError(f"unknown motion model {spec!r}: use default, rules, loudness or oracle:<path>")
