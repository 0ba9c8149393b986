"""The render plan: everything that needs the whole output timeline, computed up front.

The DP choice of atlas entries, placement smoothing, fades and cross-fades are cheap and work on
landmarks only, so they are computed once into a :class:`RenderPlan` (small: no pixels), which
the move stage writes and every render segment reads. A plan covers the full timeline; a segment
of it can be rendered on its own and still joins seamlessly with its neighbours, because
selection, fades and smoothing do not depend on where the segments are cut. Compositing the
frames is `lipdub.render.renderer`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Protocol

import numpy as np

from lipdub.face import geometry
from lipdub.render import warp
from lipdub.render.atlas import MouthAtlas
from lipdub.render.select import SelectionCosts, select_atlas_entries

class FaceTrack(Protocol):
    """What the renderer reads from ``lipdub.face.analysis.FaceAnalysis``."""

    landmarks: np.ndarray  # (T_src, 468, 2) float32
    valid: np.ndarray  # (T_src,) bool
    cut_before: np.ndarray  # (T_src,) bool


@dataclass(frozen=True)
class RenderSettings:
    """Renderer knobs; defaults are what the dev evaluation was tuned with."""

    fade_frames: int = 4  # blend-weight ramp at the edges of edited runs and at shot cuts
    crossfade_frames: int = 2  # dissolve from the old to the new atlas run after a jump
    placement_sigma: float = 1.0  # frames; Gaussian smoothing of the paste placement
    refine_strength: float = 1.0  # 0: paste crops as they are; 1: move lips fully onto the target shape
    colour_match: bool = True
    mask_feather: float = 0.06  # canonical units (inter-ocular distance = 1): Gaussian sigma of the mask edge
    costs: SelectionCosts = field(default_factory=SelectionCosts)


@dataclass
class RenderPlan:
    """Per output frame: what to paste, where, and how strongly. Small: no pixels."""

    source_index: np.ndarray  # (N,) int64 source frame shown by each output frame
    primary: np.ndarray  # (N,) int64 atlas entry, -1 = pass the frame through
    secondary: np.ndarray  # (N,) int64 entry being dissolved out after a jump, -1 = none
    secondary_weight: np.ndarray  # (N,) float32 share of the secondary entry
    weight: np.ndarray  # (N,) float32 blend weight (0 = untouched frame)
    crop_to_frame: np.ndarray  # (N, 2, 3) float64 atlas crop pixels -> frame pixels (smoothed)
    targets: np.ndarray  # (N, 2) float32 mouth targets [opening, width]
    frame_jaw: np.ndarray  # (N, 17, 2) float32 the target frame's own jaw, canonical
    nose_bottom: np.ndarray  # (N, 5, 2) float32 the target frame's nose bottom, canonical

    def __len__(self) -> int:
        return int(len(self.source_index))

    @property
    def edited_frames(self) -> int:
        return int(((self.weight > 0) & (self.primary >= 0)).sum())

    def slice(self, start: int, stop: int) -> "RenderPlan":
        """The plan of output frames ``[start, stop)`` (for rendering one segment)."""
        return RenderPlan(**{f.name: getattr(self, f.name)[start:stop] for f in fields(self)})

    def to_npz(self, path: str) -> None:
        """Save (a few hundred bytes per frame) so segment renderers can share one plan."""
        np.savez(path, **{f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_npz(cls, path: str) -> "RenderPlan":
        with np.load(path) as data:
            return cls(**{f.name: data[f.name] for f in fields(cls)})


def _picture_restarts(source_index: np.ndarray, valid: np.ndarray, cut_before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(restart, cut) per output frame.

    ``restart``: the picture does not continue from the previous output frame (first frame,
    face lost, a jump in the source such as a loop wrap, or a shot cut): smoothing and temporal
    costs start afresh. ``cut``: a shot cut between neighbouring source frames, where edits fade.
    """
    n = len(source_index)
    restart = np.ones(n, dtype=bool)
    cut = np.zeros(n, dtype=bool)
    if n > 1:
        step = np.diff(source_index)
        later = np.maximum(source_index[1:], source_index[:-1])
        adjacent = np.abs(step) == 1
        cut[1:] = adjacent & cut_before[later]
        restart[1:] = (np.abs(step) > 1) | cut[1:] | ~valid[:-1] | ~valid[1:]
    return restart, cut


def _fade_weights(active: np.ndarray, cut: np.ndarray, fade_frames: int) -> np.ndarray:
    """1 inside edited runs, ramping over ``fade_frames`` at run edges and shot cuts.

    The very start and end of the timeline are not faded: there is no unedited neighbour frame
    there to pop against.
    """
    n = len(active)
    weight = np.zeros(n, dtype=np.float32)
    if not active.any():
        return weight
    starts = active & (~np.r_[False, active[:-1]] | cut)
    stops = active & (~np.r_[active[1:], False] | np.r_[cut[1:], False])  # last frame of each run
    for lo, last in zip(np.flatnonzero(starts), np.flatnonzero(stops)):
        hi = int(last) + 1
        pos = np.arange(lo, hi)
        ramp_in = np.ones(hi - lo) if lo == 0 else (pos - lo + 1) / (fade_frames + 1)
        ramp_out = np.ones(hi - lo) if hi == n else (hi - pos) / (fade_frames + 1)
        weight[lo:hi] = np.minimum(1.0, np.minimum(ramp_in, ramp_out))
    return weight


def _crossfades(primary: np.ndarray, restart: np.ndarray, atlas: MouthAtlas, frames: int, max_skip: int) -> tuple[np.ndarray, np.ndarray]:
    """Secondary entry and its weight: after a jump the old run keeps playing and dissolves out."""
    n = len(primary)
    secondary = np.full(n, -1, dtype=np.int64)
    share = np.zeros(n, dtype=np.float32)
    if frames <= 0:
        return secondary, share
    for t in range(1, n):
        old, new = int(primary[t - 1]), int(primary[t])
        if old < 0 or new < 0 or restart[t]:
            continue
        step = int(atlas.source_index[new] - atlas.source_index[old])
        if atlas.run_id[new] == atlas.run_id[old] and -2 <= step <= max_skip:
            continue
        for k in range(frames):
            u = t + k
            if u >= n or primary[u] < 0 or (k > 0 and restart[u]):
                break
            follower = atlas.successor(old, k + 1)
            secondary[u] = follower if follower >= 0 else old
            share[u] = 1.0 - (k + 1) / (frames + 1)
    return secondary, share


def plan_render(
    timeline_source_index: np.ndarray,
    analysis: FaceTrack,
    atlas: MouthAtlas,
    targets: np.ndarray,
    settings: RenderSettings | None = None,
) -> RenderPlan:
    """Plan the whole output timeline (selection, placement, fades); landmarks only, no pixels.

    ``targets`` ``(N, 2)`` are the mouth [opening, width] per output frame; rows with NaN are
    left unedited (like frames without a valid face).
    """
    settings = settings or RenderSettings()
    source_index = np.asarray(timeline_source_index, dtype=np.int64)
    targets = np.asarray(targets, dtype=np.float32).reshape(-1, 2)
    n = len(source_index)
    if len(targets) != n:
        raise ValueError(f"{len(targets)} mouth targets for {n} output frames")
    landmarks_all = np.asarray(analysis.landmarks, dtype=np.float32)
    if n and (source_index.min() < 0 or source_index.max() >= len(landmarks_all)):
        raise ValueError("timeline refers to source frames the face analysis does not have")
    valid = np.asarray(analysis.valid, dtype=bool)[source_index]
    cut_before = np.asarray(analysis.cut_before, dtype=bool)
    active = valid & np.all(np.isfinite(targets), axis=1)
    restart, cut = _picture_restarts(source_index, valid, cut_before)

    pose = np.zeros((n, 2), dtype=np.float32)
    to_frame = np.tile(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), (n, 1, 1))
    frame_jaw = np.zeros((n, len(geometry.JAW_POINTS), 2), dtype=np.float32)
    nose_bottom = np.zeros((n, len(geometry.NOSE_BOTTOM_POINTS), 2), dtype=np.float32)
    if valid.any():
        lm = landmarks_all[source_index[valid]]
        pose[valid] = geometry.head_pose_proxies(lm, atlas.template)
        to_frame[valid] = warp.canonical_to_frame(lm, atlas.template)
    # Restart at every edge of a valid stretch so smoothing never mixes in the identity filler.
    to_frame = warp.smooth_placements(to_frame, restart | ~valid, settings.placement_sigma)
    if valid.any():
        to_canonical = warp.invert_affine_2x3(to_frame[valid])
        lm = landmarks_all[source_index[valid]]
        frame_jaw[valid] = geometry.apply_affine(to_canonical, lm[:, geometry.JAW_POINTS, :])
        nose_bottom[valid] = geometry.apply_affine(to_canonical, lm[:, geometry.NOSE_BOTTOM_POINTS, :])

    primary = select_atlas_entries(
        targets, pose, active, atlas.metrics, atlas.pose, atlas.source_index, atlas.run_id,
        restart=restart, costs=settings.costs,
    )
    active &= primary >= 0
    weight = _fade_weights(active, cut, settings.fade_frames)
    secondary, share = _crossfades(primary, restart, atlas, settings.crossfade_frames, settings.costs.max_skip)
    crop_to_frame = warp.crop_to_frame(to_frame, atlas.geometry)
    return RenderPlan(
        source_index=source_index,
        primary=np.where(active, primary, -1),
        secondary=np.where(active, secondary, -1),
        secondary_weight=np.where(active, share, 0.0).astype(np.float32),
        weight=weight,
        crop_to_frame=crop_to_frame,
        targets=np.where(np.isfinite(targets), targets, 0.0).astype(np.float32),
        frame_jaw=frame_jaw,
        nose_bottom=nose_bottom,
    )
