"""Busy core-seconds of the machine, checked against a child that spins a known time."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from jobs.machine_cpu import MachineCpu, TreeCpu, process_group

pytestmark = pytest.mark.skipif(not MachineCpu.supported(), reason="needs Linux /proc/stat")

SPIN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass"


def test_a_spinning_child_counts_as_busy_core_seconds():
    with MachineCpu() as cpu:
        subprocess.run([sys.executable, "-c", SPIN.format(seconds=1.0)], check=True)
    # Other processes may add to it; nothing can take away the child's second of CPU.
    assert cpu.busy_seconds >= 0.9
    assert cpu.busy_seconds <= cpu.wall_seconds * (os.cpu_count() or 1) + 0.1
    # The share is of the cores' own time over the same interval. On a VM the hypervisor's steal
    # is not the cores' time, so the share can only be at least busy / (cores x wall), never above 1.
    cores = os.cpu_count() or 1
    assert cpu.busy_seconds / (cores * cpu.wall_seconds) - 0.05 <= cpu.busy_share <= 1.0


@pytest.mark.parametrize(
    ("title", "group"),
    [
        ("ray::MapWorker(MapBatches(AnalyzeOperatorWithListenActor))", "actor AnalyzeOperatorWithListen"),
        ("ray::MapWorker(MapBatches(SegmentGatherer))", "actor SegmentGatherer"),
        ("ray::MapBatches(render_task)", "task workers"),
        ("ray::IDLE", "task workers"),
        ("ray::listen_overlapped", "task workers"),
        ("ray::_StatsActor", "Ray's own processes"),
        ("/venv/bin/python -u ray/dashboard/agent.py", "Ray's own processes"),
    ],
)
def test_processes_are_grouped_by_the_title_ray_gives_them(title, group):
    assert process_group(title, is_root=False) == group


def test_tree_cpu_counts_a_child_started_inside_the_block_and_the_driver():
    spin_then_wait = SPIN.format(seconds=0.6) + "\ntime.sleep(0.6)"  # alive for a sample after spinning
    with TreeCpu(interval_s=0.1) as cpu:
        subprocess.run([sys.executable, "-c", spin_then_wait], check=True)
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
    assert cpu.by_group["driver"] >= 0.25
    children = sum(seconds for group, seconds in cpu.by_group.items() if group != "driver")
    assert 0.5 <= children <= 1.0
