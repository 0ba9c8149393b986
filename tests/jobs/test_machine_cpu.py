"""Busy core-seconds of the machine, checked against a child that spins a known time."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from jobs.machine_cpu import MachineCpu

pytestmark = pytest.mark.skipif(not MachineCpu.supported(), reason="needs Linux /proc/stat")

SPIN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass"


def test_a_spinning_child_counts_as_busy_core_seconds():
    with MachineCpu() as cpu:
        subprocess.run([sys.executable, "-c", SPIN.format(seconds=1.0)], check=True)
    # Other processes may add to it; nothing can take away the child's second of CPU.
    assert cpu.busy_seconds >= 0.9
    assert cpu.busy_seconds <= cpu.wall_seconds * (os.cpu_count() or 1) + 0.1
    # The share is of all cores over the same interval.
    cores = os.cpu_count() or 1
    assert cpu.busy_share == pytest.approx(cpu.busy_seconds / (cores * cpu.wall_seconds), rel=0.25, abs=0.05)
