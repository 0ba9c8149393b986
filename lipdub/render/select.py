"""Choose one atlas entry per output frame by dynamic programming (Viterbi over pruned candidates).

Picking the nearest mouth shape frame by frame follows the targets but flickers between
unrelated source frames. Real mouth motion is best reproduced by playing the source's own frames
in order, so the path cost adds a temporal term: the next source frame of the same run is free,
holding a frame or skipping a frame or two is cheap, anything else is a jump. A pose term keeps
the chosen crop's head orientation close to the frame it is pasted into (lighting, jaw outline
and perspective then match).

Per frame only the ``n_candidates`` entries with the lowest target + pose cost, plus the
successors of the best paths so far, are considered; that keeps a 60 s timeline over a
3000-entry atlas well under a second.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SelectionCosts:
    """Weights of the DP terms; target terms are in units of the atlas's own spread (per video)."""

    width_weight: float = 1.0  # relative to opening, both in units of their per-video spread
    pose_weight: float = 1.0
    # Pose differences (yaw, pitch proxies; canonical units) that cost as much as one atlas spread
    # of mouth-shape error. Absolute, not per video: a yaw difference of 0.1 moves the pasted jaw
    # outline by ~0.07 inter-ocular distances whatever the video, which shows as a double jaw line.
    pose_tolerance: tuple[float, float] = (0.03, 0.02)
    # Mouth-shape errors are measured in units of the atlas's own spread (per video), clipped to
    # these bounds: a still speaker's tiny spread must not make every frame a jump, and a very
    # expressive speaker's large spread must not make "open" vs "closed" look cheap.
    metric_scale_bounds: tuple[float, float] = (0.015, 0.04)
    stay_cost: float = 0.5  # a(t) == a(t-1): a brief hold
    skip_cost: float = 0.25  # per extra frame skipped (a(t) = a(t-1) + 2 or + 3)
    reverse_cost: float = 0.6  # a(t) = a(t-1) - 1 or - 2 (per frame)
    jump_cost: float = 4.0  # any other change of entry (each one also costs a cross-fade)
    n_candidates: int = 48
    n_successor_paths: int = 16  # best paths whose continuation is always a candidate
    max_skip: int = 3


def normalised_scales(atlas_metrics: np.ndarray, costs: SelectionCosts) -> tuple[np.ndarray, np.ndarray]:
    """Per-video robust spread of the atlas's mouth metrics (clipped to the bounds) and the pose tolerances."""
    q75, q25 = np.percentile(atlas_metrics, [75, 25], axis=0)
    metric_scale = np.clip((q75 - q25) / 1.349, *costs.metric_scale_bounds)
    return metric_scale, np.asarray(costs.pose_tolerance, dtype=np.float64)


def unary_costs(targets: np.ndarray, target_pose: np.ndarray, atlas_metrics: np.ndarray, atlas_pose: np.ndarray, costs: SelectionCosts) -> np.ndarray:
    """``(N, E)`` target + pose cost of showing entry e at frame t."""
    metric_scale, pose_scale = normalised_scales(atlas_metrics, costs)
    weights = np.array([1.0, costs.width_weight])
    tz = (targets / metric_scale).astype(np.float32)
    az = (atlas_metrics / metric_scale).astype(np.float32)
    cost = np.zeros((len(targets), len(atlas_metrics)), dtype=np.float32)
    for axis in range(2):
        cost += weights[axis] * (tz[:, axis, None] - az[None, :, axis]) ** 2
    if costs.pose_weight > 0:
        pz = (target_pose / pose_scale).astype(np.float32)
        apz = (atlas_pose / pose_scale).astype(np.float32)
        for axis in range(pz.shape[1]):
            cost += costs.pose_weight * (pz[:, axis, None] - apz[None, :, axis]) ** 2
    return cost


def transition_costs(prev_source: np.ndarray, prev_run: np.ndarray, next_source: np.ndarray, next_run: np.ndarray, costs: SelectionCosts) -> np.ndarray:
    """``(K1, K2)`` cost of going from each previous entry to each next entry."""
    step = next_source[None, :] - prev_source[:, None]
    same_run = next_run[None, :] == prev_run[:, None]
    cost = np.full(step.shape, costs.jump_cost, dtype=np.float32)
    forward = same_run & (step >= 2) & (step <= costs.max_skip)
    backward = same_run & (step <= -1) & (step >= -2)
    cost[forward] = costs.skip_cost * (step[forward] - 1)
    cost[backward] = costs.reverse_cost * (-step[backward])
    cost[same_run & (step == 0)] = costs.stay_cost
    cost[same_run & (step == 1)] = 0.0
    return cost


def select_atlas_entries(
    targets: np.ndarray,
    target_pose: np.ndarray,
    active: np.ndarray,
    atlas_metrics: np.ndarray,
    atlas_pose: np.ndarray,
    atlas_source_index: np.ndarray,
    atlas_run_id: np.ndarray,
    *,
    restart: np.ndarray | None = None,
    costs: SelectionCosts = SelectionCosts(),
) -> np.ndarray:
    """Atlas entry per output frame ``(N,)`` int64, -1 where ``active`` is False.

    ``targets`` ``(N, 2)`` [opening, width]; ``target_pose`` ``(N, 2)`` pose proxies of the frames
    the mouths are pasted into; ``restart`` ``(N,)`` marks frames where the picture itself jumps
    (shot cut, loop wrap): no temporal cost is charged there. Inactive frames split the path.
    """
    n = len(targets)
    active = np.asarray(active, dtype=bool) & np.all(np.isfinite(targets), axis=1)
    chosen = np.full(n, -1, dtype=np.int64)
    if len(atlas_metrics) == 0 or not active.any():
        return chosen
    restart = np.zeros(n, dtype=bool) if restart is None else np.asarray(restart, dtype=bool)
    atlas_source_index = np.asarray(atlas_source_index, dtype=np.int64)
    atlas_run_id = np.asarray(atlas_run_id, dtype=np.int64)
    n_entries = len(atlas_metrics)
    k = min(costs.n_candidates, n_entries)

    # Entry of (run, source frame + 1) for the "continue the best paths" candidates.
    successor = np.full(n_entries, -1, dtype=np.int64)
    order = np.lexsort((atlas_source_index, atlas_run_id))
    consecutive = (np.diff(atlas_source_index[order]) == 1) & (np.diff(atlas_run_id[order]) == 0)
    successor[order[:-1][consecutive]] = order[1:][consecutive]

    active_frames = np.flatnonzero(active)
    top = np.empty((len(active_frames), k), dtype=np.int64)
    top_cost = np.empty((len(active_frames), k), dtype=np.float32)
    chunk = max(1, 2_000_000 // n_entries)
    for start in range(0, len(active_frames), chunk):
        frames = active_frames[start:start + chunk]
        cost = unary_costs(targets[frames], target_pose[frames], atlas_metrics, atlas_pose, costs)
        part = np.argpartition(cost, k - 1, axis=1)[:, :k] if k < n_entries else np.tile(np.arange(n_entries), (len(frames), 1))
        top[start:start + len(frames)] = part
        top_cost[start:start + len(frames)] = np.take_along_axis(cost, part, axis=1)
    metric_scale, pose_scale = normalised_scales(atlas_metrics, costs)

    def unary_for(frame: int, entries: np.ndarray) -> np.ndarray:
        return _unary_subset(targets[frame], target_pose[frame], atlas_metrics[entries], atlas_pose[entries], metric_scale, pose_scale, costs)

    # Viterbi over each run of consecutive active frames.
    row_of = {int(f): i for i, f in enumerate(active_frames)}
    t = 0
    while t < n:
        if not active[t]:
            t += 1
            continue
        stop = t
        while stop < n and active[stop]:
            stop += 1
        _viterbi_run(t, stop, top, top_cost, row_of, successor, atlas_source_index, atlas_run_id, restart, costs, unary_for, chosen)
        t = stop
    return chosen


def _unary_subset(target: np.ndarray, pose: np.ndarray, metrics: np.ndarray, entry_pose: np.ndarray, metric_scale: np.ndarray, pose_scale: np.ndarray, costs: SelectionCosts) -> np.ndarray:
    dz = (metrics - target) / metric_scale
    cost = dz[:, 0] ** 2 + costs.width_weight * dz[:, 1] ** 2
    if costs.pose_weight > 0:
        pz = (entry_pose - pose) / pose_scale
        cost = cost + costs.pose_weight * (pz ** 2).sum(axis=1)
    return cost.astype(np.float32)


def _viterbi_run(start, stop, top, top_cost, row_of, successor, source, run, restart, costs, unary_for, chosen) -> None:
    """Fill ``chosen[start:stop]`` with the cheapest path over pruned candidates."""
    row = row_of[start]
    entries = top[row]
    score = top_cost[row].astype(np.float64)
    history: list[tuple[np.ndarray, np.ndarray]] = []  # (entries at t, back-pointer into t-1)
    history.append((entries, np.full(len(entries), -1, dtype=np.int64)))
    for t in range(start + 1, stop):
        row = row_of[t]
        best_prev = np.argsort(score, kind="stable")[: costs.n_successor_paths]
        follow = successor[entries[best_prev]]
        candidates = np.unique(np.concatenate([top[row], follow[follow >= 0], entries[best_prev[:4]]]))
        unary = unary_for(t, candidates)
        if restart[t]:
            best = int(np.argmin(score))
            back = np.full(len(candidates), best, dtype=np.int64)
            new_score = score[best] + unary
        else:
            total = score[:, None] + transition_costs(source[entries], run[entries], source[candidates], run[candidates], costs)
            back = np.argmin(total, axis=0)
            new_score = total[back, np.arange(len(candidates))] + unary
        entries, score = candidates, new_score - new_score.min()
        history.append((entries, back))
    index = int(np.argmin(score))
    for t in range(stop - 1, start - 1, -1):
        entries_t, back = history[t - start]
        chosen[t] = entries_t[index]
        index = int(back[index])
