"""Summed memory of a process tree, checked against children that hold known amounts."""
from __future__ import annotations

import multiprocessing
import subprocess
import sys
import time

import numpy as np
import pytest

from jobs.tree_memory import PeakTreeMemory, tree_pss_mib, tree_rss_mib

pytestmark = pytest.mark.skipif(not PeakTreeMemory.supported(), reason="needs Linux /proc")

HELD_MIB = 300


def test_a_child_holding_memory_counts_in_the_tree_and_in_the_peak():
    before, before_pss = tree_rss_mib(), tree_pss_mib()
    with PeakTreeMemory(interval_s=0.05) as peak:
        child = subprocess.Popen([sys.executable, "-c", f"import time; b = bytearray({HELD_MIB} * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(3)"])
        try:
            deadline = time.monotonic() + 20
            while tree_rss_mib() - before < HELD_MIB - 50 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.2)
            during, during_pss = tree_rss_mib(), tree_pss_mib()
        finally:
            child.kill()
            child.wait()
    assert during - before > HELD_MIB - 50
    # The child's pages are its own: PSS counts them in full too.
    assert during_pss - before_pss > HELD_MIB - 50
    assert peak.mib >= during - 5 and peak.pss_mib >= during_pss - 5
    assert tree_rss_mib() < during - (HELD_MIB - 50)  # gone with the child


def _hold(ready, release) -> None:
    ready.set()
    release.wait(20)


def test_pages_shared_with_a_forked_child_count_once_in_pss_twice_in_rss():
    held = np.ones(HELD_MIB * 2**20, np.uint8)  # touched, so resident before the fork
    before, before_pss = tree_rss_mib(), tree_pss_mib()
    context = multiprocessing.get_context("fork")
    ready, release = context.Event(), context.Event()
    child = context.Process(target=_hold, args=(ready, release))
    child.start()
    try:
        assert ready.wait(20)
        rss_added, pss_added = tree_rss_mib() - before, tree_pss_mib() - before_pss
    finally:
        release.set()
        child.join(20)
    # The child maps the parent's pages copy-on-write: the RSS sum counts them again, PSS does not.
    assert rss_added > HELD_MIB - 50
    assert pss_added < rss_added - (HELD_MIB - 50)
    assert held[0] == 1


def test_rss_only_sampling_leaves_pss_unmeasured():
    with PeakTreeMemory(interval_s=0.05, pss=False) as peak:
        time.sleep(0.3)
    assert peak.mib > 10  # this Python process alone
    assert peak.pss_mib == 0.0
