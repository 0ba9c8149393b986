import cv2
import numpy as np
import pytest

from lipdub.config import QAConfig
from lipdub.media.video_reader import iter_frames
from lipdub.qa.meters import FlickerMeter, OutsidePSNR, SeamMeter, grey
from lipdub.qa.regions import face_regions


@pytest.fixture(scope="module")
def frame_and_regions(qa_source):
    source, _, faces = qa_source
    index = int(np.flatnonzero(faces.valid)[5])
    frame = next(f for i, f in enumerate(iter_frames(str(source))) if i == index)
    return frame, faces.landmarks[index], face_regions(faces.landmarks[index], frame.shape[:2])


def test_outside_psnr_ignores_the_lower_face_and_matches_a_direct_computation(frame_and_regions):
    frame, _, regions = frame_and_regions
    x0, y0, x1, y1 = regions.box
    changed = frame.copy()
    changed[y0:y1, x0:x1][regions.lower_face] = 0  # only the lower face changes
    meter = OutsidePSNR()
    meter.add(changed, frame, regions)
    assert meter.psnr_db() == float("inf")
    noisy = np.clip(frame.astype(int) + np.random.default_rng(0).integers(-3, 4, frame.shape), 0, 255).astype(np.uint8)
    meter = OutsidePSNR()
    meter.add(noisy, frame, regions)
    keep = np.ones(frame.shape[:2], bool)
    keep[y0:y1, x0:x1] &= ~regions.lower_face
    mse = ((noisy.astype(float) - frame)[keep] ** 2).mean()
    assert meter.psnr_db() == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-6)


def _paste(frame, regions, feather_px: float):
    """Brighten the lower face's hull by 35 levels, with a hard or a feathered edge."""
    x0, y0, x1, y1 = regions.box
    mask = cv2.erode(regions.lower_face.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(np.float32)
    if feather_px:
        mask = cv2.GaussianBlur(mask, (0, 0), feather_px)
    out = frame.copy()
    box = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(box + 35 * mask[..., None], 0, 255).astype(np.uint8)
    return out


def test_seam_score_sees_a_hard_edge_and_not_a_feathered_one(frame_and_regions):
    frame, _, regions = frame_and_regions
    x0, y0, x1, y1 = regions.box
    scores = {}
    for name, feather in (("same", None), ("hard", 0.0), ("feathered", 8.0)):
        out = frame if feather is None else _paste(frame, regions, feather)
        meter = SeamMeter()
        meter.add(grey(out[y0:y1, x0:x1]), grey(frame[y0:y1, x0:x1]), regions)
        scores[name] = meter.score()
    assert scores["same"] == 0.0
    assert scores["hard"] > QAConfig().max_seam_score > scores["feathered"], scores


def test_flicker_ratio_is_one_for_the_source_and_grows_with_popping_texture():
    rng = np.random.default_rng(1)
    frames = [np.full((64, 64, 3), 100 + 5 * (i % 2), np.uint8) for i in range(10)]
    same, popping = FlickerMeter(), FlickerMeter()
    box = (8, 8, 56, 56)
    for i, frame in enumerate(frames):
        crop = FlickerMeter.crop(frame, box)
        same.add(crop, crop, continuous=i > 0)
        pop = np.clip(frame.astype(int) + rng.integers(-20, 21), 0, 255).astype(np.uint8)
        popping.add(FlickerMeter.crop(pop, box), crop, continuous=i > 0)
    assert same.ratio() == pytest.approx(1.0)
    assert popping.ratio() > 2.0
