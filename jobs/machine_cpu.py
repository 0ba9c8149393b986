"""CPU time a benchmark step used: the whole machine's busy core-seconds (``MachineCpu``, from
/proc/stat) and the process tree's, grouped by the part of a Ray run each process is (``TreeCpu``).

Why the machine first, not only the process tree: Ray's processes come and go (task workers, the
raylet's helpers) and the question a benchmark asks of a 2-core box is simply "were the cores
busy, and how many core-seconds did the work take?". The pipeline's ratio to the plain
re-encode cannot fall below the ratio of their busy core-seconds when both keep every core
busy, so the busy share says whether overlapping stages can still win time or only less work can.
"""
from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from jobs.tree_memory import PROC, process_tree

PROC_STAT = Path("/proc/stat")
# /proc/stat's first line: user nice system idle iowait irq softirq steal ...; idle and iowait
# are the cores' free time, steal is time the hypervisor gave to others.
_IDLE_FIELDS = (3, 4)
_STEAL_FIELD = 7


def _busy_and_total_ticks() -> tuple[int, int]:
    fields = [int(value) for value in PROC_STAT.read_text().splitlines()[0].split()[1:]]
    counted = fields[:_STEAL_FIELD]  # guest time is already inside user
    idle = sum(fields[index] for index in _IDLE_FIELDS)
    return sum(counted) - idle, sum(counted)


@dataclass
class MachineCpu:
    """``with MachineCpu() as cpu: ...`` then ``cpu.busy_seconds`` (core-seconds, all processes),
    ``cpu.wall_seconds`` and ``cpu.busy_share`` (of the cores' time over the wall time; on a VM
    the time the hypervisor stole is not counted as the cores', so the share can exceed
    ``busy_seconds / (cores x wall_seconds)``)."""

    busy_seconds: float = 0.0
    wall_seconds: float = 0.0
    busy_share: float = 0.0

    @staticmethod
    def supported() -> bool:
        return PROC_STAT.exists()

    def __enter__(self) -> "MachineCpu":
        self._started = time.perf_counter()
        self._ticks = _busy_and_total_ticks() if self.supported() else (0, 0)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.wall_seconds = time.perf_counter() - self._started
        if not self.supported():
            return
        busy, total = _busy_and_total_ticks()
        busy_ticks, total_ticks = busy - self._ticks[0], total - self._ticks[1]
        self.busy_seconds = busy_ticks / os.sysconf("SC_CLK_TCK")
        self.busy_share = busy_ticks / total_ticks if total_ticks else 0.0


def _cpu_and_title(pid: int) -> tuple[float, str] | None:
    """CPU seconds (user + system, all threads) and the command line of a process; None if gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        title = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), title


def process_group(title: str, is_root: bool) -> str:
    """Which part of a Ray run a process is, from the title Ray gives it (``ray::...``)."""
    if is_root:
        return "driver"
    actor = re.match(r"ray::MapWorker\(MapBatches\((\w+?)(?:Actor)?\)\)", title)
    if actor:
        return f"actor {actor.group(1)}"
    # Task workers are renamed by the task they run last (ray::MapBatches(render_task), ray::IDLE).
    if title.startswith("ray::IDLE") or re.match(r"ray::(MapBatches\(\w+\)|\w+_overlapped|\w+_task)", title):
        return "task workers"
    return "Ray's own processes"


class TreeCpu:
    """``with TreeCpu() as cpu: ...`` then ``cpu.by_group``: core-seconds used in the block by
    this process (``driver``) and its descendants, grouped by ``process_group``. Sampled every
    ``interval_s`` (reading /proc/PID/stat is cheap), so a process that ends between samples
    keeps what it had used at the last one."""

    def __init__(self, interval_s: float = 2.0) -> None:
        self.interval_s = interval_s
        self.by_group: dict[str, float] = {}
        self._first: dict[int, float] = {}
        self._last: dict[int, tuple[float, str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-cpu", daemon=True)

    def _sample(self) -> None:
        for pid in process_tree(None):
            reading = _cpu_and_title(pid)
            if reading is not None:
                self._last[pid] = reading

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> "TreeCpu":
        if MachineCpu.supported():
            self._sample()
            # Processes already running count from here on; later ones from their start.
            self._first = {pid: cpu for pid, (cpu, _title) in self._last.items()}
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
            self._sample()
        groups: Counter[str] = Counter()
        for pid, (cpu, title) in self._last.items():
            groups[process_group(title, pid == os.getpid())] += cpu - self._first.get(pid, 0.0)
        self.by_group = {group: round(seconds, 1) for group, seconds in groups.most_common()}


__all__ = ["MachineCpu", "TreeCpu", "process_group"]
