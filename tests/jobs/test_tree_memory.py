"""Summed resident memory of a process tree, checked against a child that holds a known amount."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from jobs.tree_memory import PeakTreeMemory, tree_rss_mib

pytestmark = pytest.mark.skipif(not PeakTreeMemory.supported(), reason="needs Linux /proc")


def test_a_child_holding_memory_counts_in_the_tree_and_in_the_peak():
    before = tree_rss_mib()
    with PeakTreeMemory(interval_s=0.05) as peak:
        child = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(3)"])
        try:
            deadline = time.monotonic() + 20
            while tree_rss_mib() - before < 250 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.2)
            during = tree_rss_mib()
        finally:
            child.kill()
            child.wait()
    assert during - before > 250
    assert peak.mib >= during - 5
    assert tree_rss_mib() < during - 250  # gone with the child
