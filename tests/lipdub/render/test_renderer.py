import logging
import time
from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from lipdub.face import geometry
from lipdub.render.atlas import build_mouth_atlas
from lipdub.render.plan import RenderPlan, RenderSettings, plan_render
from lipdub.render.renderer import render_frames

log = logging.getLogger(__name__)
N_SOURCE = 40


@dataclass
class Track:
    """The three FaceAnalysis fields the renderer reads."""

    landmarks: np.ndarray
    valid: np.ndarray
    cut_before: np.ndarray


def _source_openings(n: int = N_SOURCE) -> np.ndarray:
    return 0.13 + 0.11 * np.sin(np.arange(n) / 1.7)


@pytest.fixture
def source(tmp_path, talking_sequence):
    """40 source frames of a talking, slightly moving face, their track and atlas."""
    shifts = [(2.0 * np.sin(t / 5.0), 1.5 * np.cos(t / 7.0)) for t in range(N_SOURCE)]
    frames, landmarks = talking_sequence(_source_openings(), shifts=shifts)
    track = Track(landmarks=landmarks, valid=np.ones(N_SOURCE, bool), cut_before=np.zeros(N_SOURCE, bool))
    atlas = build_mouth_atlas(iter(frames), landmarks, track.valid, work_dir=str(tmp_path / "atlas"))
    return frames, track, atlas


def _mouth_darkness(frame: np.ndarray, landmarks: np.ndarray) -> int:
    x0, y0 = landmarks[[61, 0]].min(axis=0).astype(int) - 4
    x1, y1 = landmarks[[291, 152]].max(axis=0).astype(int)
    region = frame[y0:y1, x0:x1].astype(np.int32)
    return int((region.sum(axis=-1) < 150).sum())


def _lower_face_region(landmarks: np.ndarray, shape) -> np.ndarray:
    region = np.zeros(shape[:2], np.uint8)
    points = landmarks[list(geometry.JAW_POINTS) + list(geometry.NOSE_BOTTOM_POINTS)]
    cv2.fillConvexPoly(region, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    radius = int(0.35 * geometry.inter_ocular_distance(landmarks))
    return cv2.dilate(region, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))) > 0


def test_rendered_mouths_follow_targets_and_only_the_lower_face_changes(source):
    frames, track, atlas = source
    index = np.arange(30)
    # A different mouth track than the source's own, within its range.
    targets = np.stack([0.13 + 0.11 * np.sin(np.arange(30) / 3.1 + 2.0), np.full(30, np.median(atlas.metrics[:, 1]))], axis=1)
    out = list(render_frames((frames[i] for i in index), index, track, atlas, targets))
    assert len(out) == 30
    darkness = [_mouth_darkness(o, track.landmarks[i]) for o, i in zip(out, index)]
    assert np.corrcoef(darkness, targets[:, 0])[0, 1] > 0.8
    original = [_mouth_darkness(frames[i], track.landmarks[i]) for i in index]
    assert np.corrcoef(original, targets[:, 0])[0, 1] < 0.5  # the edit, not the source, follows the targets
    for o, i in zip(out, index):
        outside = ~_lower_face_region(track.landmarks[i], o.shape)
        assert np.array_equal(o[outside], frames[i][outside])


def test_frames_without_face_or_target_pass_through_bit_exact(source):
    frames, track, atlas = source
    track.valid[[3, 4, 12]] = False
    index = np.arange(20)
    targets = np.stack([_source_openings()[::-1][:20], np.full(20, 0.6)], axis=1)
    targets[8] = np.nan
    out = list(render_frames((frames[i] for i in index), index, track, atlas, targets))
    for t in (3, 4, 8, 12):
        assert out[t] is frames[t]
    assert not np.array_equal(out[15], frames[15])


def test_edits_fade_at_run_edges_and_shot_cuts_but_not_at_loop_wraps(source):
    frames, track, atlas = source
    track.valid[20:25] = False
    track.cut_before[10] = True
    index = np.r_[np.arange(N_SOURCE), np.arange(10)]  # loops back to frame 0 at t=40
    targets = np.stack([np.full(len(index), 0.2), np.full(len(index), 0.6)], axis=1)
    plan = plan_render(index, track, atlas, targets, RenderSettings(fade_frames=4))
    w = plan.weight
    assert w[0] == 1.0  # nothing to fade against before the first frame
    assert np.allclose(w[15:20], [1.0, 0.8, 0.6, 0.4, 0.2]) and np.all(w[20:25] == 0)
    assert np.allclose(w[25:29], [0.2, 0.4, 0.6, 0.8])
    assert w[9] == pytest.approx(0.2) and w[10] == pytest.approx(0.2)  # the cut before source frame 10
    assert np.all(w[36:44] == 1.0)  # the loop wrap at t=40 is not faded
    assert w[-1] == 1.0
    # A faded frame changes the picture less than the same frame at full weight.
    full = plan.slice(0, len(plan))
    full.weight = np.where(plan.weight > 0, 1.0, 0.0).astype(np.float32)
    for t in (17, 19):
        faded = next(render_frames(iter([frames[index[t]]]), index, track, atlas, targets, plan=plan, frame_range=(t, t + 1)))
        strong = next(render_frames(iter([frames[index[t]]]), index, track, atlas, targets, plan=full, frame_range=(t, t + 1)))
        change = lambda o: np.abs(o.astype(np.int32) - frames[index[t]]).sum()
        assert 0 < change(faded) < change(strong)


def test_jumps_between_atlas_runs_cross_fade(tmp_path, talking_sequence):
    # A source whose mouth only ever opens (a ramp), and targets that open twice: after the first
    # ramp the path has to jump back to a closed mouth, and that jump dissolves.
    frames, landmarks = talking_sequence(np.linspace(0.02, 0.3, N_SOURCE))
    track = Track(landmarks=landmarks, valid=np.ones(N_SOURCE, bool), cut_before=np.zeros(N_SOURCE, bool))
    atlas = build_mouth_atlas(iter(frames), landmarks, track.valid, work_dir=str(tmp_path))
    index = np.arange(30)
    ramp = np.linspace(0.02, 0.3, 15)
    targets = np.stack([np.r_[ramp, ramp], np.full(30, float(np.median(atlas.metrics[:, 1])))], axis=1)
    plan = plan_render(index, track, atlas, targets, RenderSettings(crossfade_frames=2))
    jumps = [t for t in range(1, 30) if plan.secondary[t] >= 0 and plan.secondary[t - 1] < 0]
    assert jumps
    for t in jumps:
        assert plan.secondary_weight[t] == pytest.approx(2 / 3)
        assert plan.secondary_weight[t + 1] == pytest.approx(1 / 3)
        assert plan.secondary[t] in (plan.primary[t - 1], atlas.successor(int(plan.primary[t - 1])))
    out = list(render_frames((frames[i] for i in index), index, track, atlas, targets, plan=plan))
    assert not np.array_equal(out[jumps[0]], frames[jumps[0]])
    no_fade = plan_render(index, track, atlas, targets, RenderSettings(crossfade_frames=0))
    assert np.all(no_fade.secondary == -1)


def test_segments_render_exactly_like_the_whole_timeline(source):
    frames, track, atlas = source
    index = np.r_[np.arange(N_SOURCE), np.arange(N_SOURCE - 2, 20, -1)]  # forward, then bounce back
    targets = np.stack([0.13 + 0.1 * np.cos(np.arange(len(index)) / 2.3), np.full(len(index), 0.6)], axis=1)
    plan = plan_render(index, track, atlas, targets)
    whole = list(render_frames((frames[i] for i in index), index, track, atlas, targets, plan=plan))
    parts = []
    for start, stop in ((0, 23), (23, 41), (41, len(index))):
        parts += list(render_frames((frames[i] for i in index[start:stop]), index, track, atlas, targets, plan=plan, frame_range=(start, stop)))
    assert len(parts) == len(whole)
    assert all(np.array_equal(a, b) for a, b in zip(whole, parts))
    sliced = plan.slice(23, 41)
    assert len(sliced) == 18 and np.array_equal(sliced.primary, plan.primary[23:41])


def test_rendering_streams_one_frame_at_a_time(source):
    frames, track, atlas = source
    index = np.arange(N_SOURCE)
    pulled = []

    def frames_iter():
        for i in index:
            pulled.append(i)
            yield frames[i]

    targets = np.stack([np.full(N_SOURCE, 0.15), np.full(N_SOURCE, 0.6)], axis=1)
    stream = render_frames(frames_iter(), index, track, atlas, targets)
    next(stream)
    next(stream)
    assert len(pulled) == 2


def test_render_speed_sanity(source):
    """Logged, not asserted: per-frame cost of the compositor on this machine."""
    frames, track, atlas = source
    index = np.arange(N_SOURCE)
    targets = np.stack([_source_openings()[::-1], np.full(N_SOURCE, 0.6)], axis=1)
    plan = plan_render(index, track, atlas, targets)
    start = time.perf_counter()
    out = list(render_frames((frames[i] for i in index), index, track, atlas, targets, plan=plan))
    per_frame = (time.perf_counter() - start) / len(out)
    log.info("render: %.2f ms per %dx%d frame, crop %s", per_frame * 1000, frames[0].shape[1], frames[0].shape[0], atlas.geometry.size)
    assert plan.edited_frames == N_SOURCE


def test_mismatched_targets_are_rejected(source):
    frames, track, atlas = source
    with pytest.raises(ValueError):
        plan_render(np.arange(10), track, atlas, np.zeros((9, 2)))
    with pytest.raises(ValueError):
        plan_render(np.array([0, N_SOURCE + 5]), track, atlas, np.zeros((2, 2)))


def test_plan_round_trips_through_npz(source, tmp_path):
    frames, track, atlas = source
    index = np.arange(20)
    targets = np.stack([np.full(20, 0.15), np.full(20, 0.6)], axis=1)
    plan = plan_render(index, track, atlas, targets)
    plan.to_npz(str(tmp_path / "plan.npz"))
    again = RenderPlan.from_npz(str(tmp_path / "plan.npz"))
    assert np.array_equal(again.primary, plan.primary) and np.array_equal(again.crop_to_frame, plan.crop_to_frame)


def test_a_one_frame_atlas_still_renders(tmp_path, talking_sequence):
    frames, landmarks = talking_sequence([0.2, 0.05, 0.05])
    valid = np.array([True, False, False])
    atlas = build_mouth_atlas(iter(frames), landmarks, valid, work_dir=str(tmp_path))
    track = Track(landmarks=landmarks, valid=np.ones(3, bool), cut_before=np.zeros(3, bool))
    index = np.array([1, 2, 1])
    out = list(render_frames((frames[i] for i in index), index, track, atlas, np.full((3, 2), [0.2, 0.6])))
    assert len(out) == 3 and all(o.shape == frames[0].shape for o in out)
    assert not np.array_equal(out[0], frames[1])
