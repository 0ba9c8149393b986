import logging
import time

import numpy as np

from lipdub.render.select import SelectionCosts, select_atlas_entries, transition_costs

log = logging.getLogger(__name__)


def _sinusoid_atlas(n: int = 200):
    t = np.arange(n)
    metrics = np.stack([0.1 + 0.08 * np.sin(t / 3.0), 0.5 + 0.02 * np.cos(t / 5.0)], axis=1)
    pose = np.zeros((n, 2))
    return metrics, pose, t.astype(np.int64), np.zeros(n, dtype=np.int64)


def test_plays_consecutive_source_frames_when_targets_match_a_stretch():
    metrics, pose, source, run = _sinusoid_atlas()
    targets = metrics[50:90] + 0.003  # a stretch of the source, slightly off
    chosen = select_atlas_entries(targets, np.zeros((40, 2)), np.ones(40, bool), metrics, pose, source, run)
    assert np.array_equal(source[chosen], np.arange(50, 90)) or np.mean(np.diff(source[chosen]) == 1) > 0.9


def test_follows_arbitrary_targets():
    metrics, pose, source, run = _sinusoid_atlas(400)
    metrics[:, 1] = 0.5  # only the opening varies: the test is about following it
    # A new mouth track: another rhythm than the source's, drifting in phase and amplitude.
    t = np.arange(300)
    opening = 0.1 + (0.04 + 0.03 * np.sin(t / 23.0)) * np.sin(t / 2.1 + 2.0 * np.sin(t / 17.0))
    targets = np.stack([opening, np.full(300, 0.5)], axis=1)
    chosen = select_atlas_entries(targets, np.zeros((300, 2)), np.ones(300, bool), metrics, pose, source, run)
    assert np.corrcoef(metrics[chosen, 0], opening)[0, 1] > 0.9
    assert np.abs(metrics[chosen, 0] - opening).mean() < 0.02


def test_prefers_continuation_over_an_equally_good_unrelated_entry():
    # Entries 0..9 are one run; entry 10 duplicates entry 5's shape in another run.
    metrics = np.stack([np.linspace(0.0, 0.2, 10), np.full(10, 0.5)], axis=1)
    metrics = np.vstack([metrics, metrics[5]])
    source = np.r_[np.arange(10), 100]
    run = np.r_[np.zeros(10, dtype=np.int64), 1]
    targets = metrics[2:8]
    chosen = select_atlas_entries(targets, np.zeros((6, 2)), np.ones(6, bool), metrics, np.zeros((11, 2)), source, run)
    assert chosen.tolist() == [2, 3, 4, 5, 6, 7]


def test_pose_cost_picks_the_entry_with_matching_head_pose():
    metrics = np.array([[0.1, 0.5], [0.1, 0.5], [0.2, 0.5], [0.0, 0.5]])
    pose = np.array([[0.0, 1.0], [0.3, 1.0], [0.1, 1.0], [-0.1, 1.0]])
    source = np.array([0, 10, 20, 30])
    run = np.arange(4)
    chosen = select_atlas_entries(np.array([[0.1, 0.5]]), np.array([[0.28, 1.0]]), np.array([True]), metrics, pose, source, run)
    assert chosen.tolist() == [1]


def test_inactive_and_nan_frames_get_no_entry():
    metrics, pose, source, run = _sinusoid_atlas()
    targets = metrics[10:20].copy()
    targets[3] = np.nan
    active = np.ones(10, bool)
    active[7] = False
    chosen = select_atlas_entries(targets, np.zeros((10, 2)), active, metrics, pose, source, run)
    assert chosen[3] == -1 and chosen[7] == -1
    assert np.all(chosen[[0, 1, 2, 4, 5, 6, 8, 9]] >= 0)


def test_transition_costs_order():
    costs = SelectionCosts()
    prev = np.array([10])
    nxt = np.array([11, 10, 12, 9, 50])
    cost = transition_costs(prev, np.zeros(1, int), nxt, np.zeros(5, int), costs)[0]
    assert cost[0] == 0.0
    assert 0 < cost[1] < costs.jump_cost and 0 < cost[2] < costs.jump_cost and 0 < cost[3] < costs.jump_cost
    assert cost[4] == costs.jump_cost
    other_run = transition_costs(prev, np.zeros(1, int), np.array([11]), np.ones(1, int), costs)[0]
    assert other_run[0] == costs.jump_cost


def test_restart_frames_charge_no_temporal_cost():
    metrics = np.stack([np.linspace(0.0, 0.2, 20), np.full(20, 0.5)], axis=1)
    source, run = np.arange(20), np.zeros(20, dtype=np.int64)
    targets = np.vstack([metrics[[3, 4, 5]], metrics[[15, 16]]])
    restart = np.array([True, False, False, True, False])
    chosen = select_atlas_entries(targets, np.zeros((5, 2)), np.ones(5, bool), metrics, np.zeros((20, 2)), source, run, restart=restart)
    assert chosen.tolist() == [3, 4, 5, 15, 16]


def test_a_minute_of_output_over_a_full_atlas_runs(caplog):
    """Speed sanity (logged, not asserted): 1500 frames x 3000 entries."""
    rng = np.random.default_rng(0)
    n_entries, n_frames = 3000, 1500
    metrics = np.stack([np.abs(rng.normal(0.08, 0.06, n_entries)), rng.normal(0.5, 0.03, n_entries)], axis=1)
    pose = rng.normal(0, 0.05, (n_entries, 2))
    targets = np.stack([np.abs(rng.normal(0.08, 0.06, n_frames)), rng.normal(0.5, 0.03, n_frames)], axis=1)
    start = time.perf_counter()
    chosen = select_atlas_entries(targets, rng.normal(0, 0.05, (n_frames, 2)), np.ones(n_frames, bool), metrics, pose, np.arange(n_entries), np.zeros(n_entries, np.int64))
    log.info("selection of %d frames over %d entries took %.2f s", n_frames, n_entries, time.perf_counter() - start)
    assert chosen.shape == (n_frames,) and chosen.min() >= 0
