"""TorchPainter against OpenCvPainter: the GPU path's pixels, checked on the CPU device here (and on
CUDA where a GPU is present: the same test, parametrised)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from lipdub.qa.meters import psnr_db
from lipdub.render.atlas import build_mouth_atlas
from lipdub.render.plan import RenderSettings, plan_render
from lipdub.render.renderer import MouthCompositor
from lipdub.render.torch_painter import TorchPainter

log = logging.getLogger(__name__)

N_SOURCE = 40
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@dataclass
class Track:
    landmarks: np.ndarray
    valid: np.ndarray
    cut_before: np.ndarray


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return psnr_db(float(np.square(a.astype(np.float64) - b).sum()), a.size)


@pytest.fixture
def jumping_render(tmp_path, talking_sequence):
    """A plan with cross-fades (a ramp source, targets that open twice) on a moving face."""
    shifts = [(2.0 * np.sin(t / 5.0), 1.5 * np.cos(t / 7.0)) for t in range(N_SOURCE)]
    frames, landmarks = talking_sequence(np.linspace(0.02, 0.3, N_SOURCE), shifts=shifts)
    track = Track(landmarks=landmarks, valid=np.ones(N_SOURCE, bool), cut_before=np.zeros(N_SOURCE, bool))
    atlas = build_mouth_atlas(iter(frames), landmarks, track.valid, work_dir=str(tmp_path))
    ramp = np.linspace(0.02, 0.3, 15)
    targets = np.stack([np.r_[ramp, ramp], np.full(30, float(np.median(atlas.metrics[:, 1])))], axis=1)
    return frames, atlas, plan_render(np.arange(30), track, atlas, targets, RenderSettings(crossfade_frames=2))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("refine", [1.0, 0.0])
def test_torch_painter_matches_opencv_within_45_db_in_the_changed_box(jumping_render, device, refine):
    frames, atlas, plan = jumping_render
    settings = RenderSettings(crossfade_frames=2, refine_strength=refine)
    reference = MouthCompositor(atlas, plan, settings)
    candidate = MouthCompositor(atlas, plan, settings, TorchPainter(atlas, device))
    box_psnr, faded = [], 0
    for t in range(len(plan)):
        frame = frames[int(plan.source_index[t])]
        expected, got = reference.render(t, frame), candidate.render(t, frame)
        assert candidate.changed_box == reference.changed_box
        if reference.changed_box is None:
            assert got is frame
            continue
        x0, y0, x1, y1 = reference.changed_box
        outside = np.ones(frame.shape[:2], bool)
        outside[y0:y1, x0:x1] = False
        assert np.array_equal(got[outside], frame[outside])  # nothing outside the box moves
        assert not np.array_equal(got, frame)
        box_psnr.append(psnr(expected[y0:y1, x0:x1], got[y0:y1, x0:x1]))
        faded += plan.secondary[t] >= 0
    log.info("torch (%s) vs OpenCV, refine %.1f: changed-box PSNR min %.1f dB, mean %.1f dB over %d frames (%d cross-faded)",
             device, refine, min(box_psnr), float(np.mean(box_psnr)), len(box_psnr), faded)
    assert len(box_psnr) >= 20 and (refine == 0.0 or faded > 0)
    assert min(box_psnr) >= 45.0


def test_crops_stay_on_the_device_up_to_the_cache_size(jumping_render):
    frames, atlas, plan = jumping_render
    painter = TorchPainter(atlas, "cpu", cached_crops=3)
    compositor = MouthCompositor(atlas, plan, RenderSettings(), painter)
    for t in range(len(plan)):
        compositor.render(t, frames[int(plan.source_index[t])])
    assert 0 < len(painter._crops) <= 3
