"""Balance by person in `lipdub train`, and the people yardstick's summary (no media, no Ray)."""
from __future__ import annotations

import math

from pipelines.evaluation.people import summarise
from pipelines.training_run import capped_videos, capped_windows


def test_capped_windows_keeps_at_most_cap_per_person_spread_over_clips():
    tags = [("big", f"b{c}", i) for c in range(10) for i in range(5)] + [("small", "s0", i) for i in range(3)]
    kept = capped_windows(tags, cap=10)
    big = [k for k in kept if k[0].startswith("b")]
    assert len(big) == 10 and len({clip for clip, _ in big}) == 10  # one from each clip
    assert {("s0", i) for i in range(3)} <= kept
    assert len(capped_windows(tags, cap=0)) == len(tags)


def test_capped_videos_is_deterministic_and_leaves_others_alone():
    names = [f"s1_{i:03d}" for i in range(200)] + ["solo_a", "solo_b"]
    people = {n: "grid_s1" for n in names if n.startswith("s1_")}
    kept, out = capped_videos(names, people, cap=50)
    assert len(kept) == 52 and "solo_a" in kept and "solo_b" in kept
    assert set(kept) == set(capped_videos(list(reversed(names)), people, cap=50)[0])
    assert len(out) == 150
    assert capped_videos(names, people, cap=0) == (names, [])


def test_summary_averages_people_not_clips_and_splits_real_from_generated():
    per_clip = {
        "a1": {"v1": {"opening": 0.2, "width": 0.1, "jitter_ratio": 1.0, "outside_psnr_db": 40.0}},
        "a2": {"v1": {"opening": 0.4, "width": 0.1, "jitter_ratio": 1.0, "outside_psnr_db": 40.0}},
        "b": {"v1": {"opening": 0.9, "width": float("nan"), "jitter_ratio": 2.0, "outside_psnr_db": 50.0}},
        "g": {"v1": {"status": "failed"}},
    }
    people = {"a1": ("A", "real"), "a2": ("A", "real"), "b": ("B", "real"), "g": ("G", "generated")}
    summary = summarise(per_clip, people, ["v1"])
    assert math.isclose(summary["all"]["v1"]["opening"], (0.3 + 0.9) / 2)
    assert math.isclose(summary["real"]["v1"]["width"], 0.1)
    assert math.isclose(summary["all"]["v1"]["jitter_ratio"], 1.5)
    assert math.isnan(summary["generated"]["v1"]["opening"])
    assert summary["all"]["v1"]["people"] == 3 and summary["generated"]["v1"]["people"] == 1


def test_summary_of_people_no_compared_checkpoint_trained_on():
    per_clip = {c: {"v": {"opening": o, "width": 0.0, "jitter_ratio": 1.0, "outside_psnr_db": float("inf")}}
                for c, o in (("a1", 0.9), ("a2", 0.7), ("b", 0.1))}
    people = {"a1": ("A", "real"), "a2": ("A", "real"), "b": ("B", "generated")}
    summary = summarise(per_clip, people, ["v"], seen={"a2"})
    assert summary["never_trained_on"]["v"]["people"] == 1  # A is out: one of its clips was seen
    assert math.isclose(summary["never_trained_on"]["v"]["opening"], 0.1)
    assert summary["all"]["v"]["outside_psnr_db"] == float("inf")  # untouched: the source itself


def test_summary_of_clips_whose_halves_are_long_enough_to_trust():
    per_clip = {c: {"v": {"opening": o, "width": 0.0, "jitter_ratio": 1.0, "outside_psnr_db": 50.0}}
                for c, o in (("short", -0.5), ("long_a", 0.8), ("long_b", 0.6))}
    people = {"short": ("S", "real"), "long_a": ("L", "real"), "long_b": ("M", "real")}
    seconds = {"short": 3.0, "long_a": 8.0, "long_b": 12.5}  # halves of 1.5, 4 and 6.25 s
    summary = summarise(per_clip, people, ["v"], seconds=seconds)
    assert summary["long_halves"]["v"]["people"] == 2
    assert math.isclose(summary["long_halves"]["v"]["opening"], 0.7)
    assert math.isclose(summary["all"]["v"]["opening"], 0.3)
    assert "long_halves" not in summarise(per_clip, people, ["v"])
