"""`lipdub bench-memory` end to end on short clips: two real dubs on fresh local Ray clusters."""
from __future__ import annotations

import pytest

from jobs.bench_memory import TARGET_RATIO, run_memory_bench
from jobs.tree_memory import PeakTreeMemory

pytestmark = [pytest.mark.long, pytest.mark.skipif(not PeakTreeMemory.supported(), reason="needs Linux /proc")]


def test_short_and_long_clip_are_dubbed_and_their_peaks_compared(tmp_path):
    report = run_memory_bench(short_s=2.0, long_s=4.0, shared_media=None, folder=tmp_path)
    for name, seconds in (("short", 2.0), ("long", 4.0)):
        run = report[name]
        assert run["clip_seconds"] == seconds and run["edited_frames"] > 0
        assert (tmp_path / f"{seconds:g}s" / "dubbed.mp4").stat().st_size > 0
        # A Ray cluster and its actors: well over a few hundred MiB, and PSS never above the RSS sum.
        assert 500 < run["peak_tree_pss_mib"] <= run["peak_tree_rss_mib"]
    assert report["pss_ratio"] == pytest.approx(report["long"]["peak_tree_pss_mib"] / report["short"]["peak_tree_pss_mib"])
    assert report["meets_target"] is (report["pss_ratio"] <= TARGET_RATIO)
