"""CPU time the whole machine spent busy while a benchmark step ran (from /proc/stat).

Why the machine and not the process tree: Ray's processes come and go (task workers, the
raylet's helpers) and the question a benchmark asks of a 2-core box is simply "were the cores
busy, and how many core-seconds did the work take?". The pipeline's ratio to the plain
re-encode cannot fall below the ratio of their busy core-seconds when both keep every core
busy, so the busy share says whether overlapping stages can still win time or only less work can.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

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
    ``cpu.wall_seconds`` and ``cpu.busy_share`` (of all cores over the wall time)."""

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


__all__ = ["MachineCpu"]
