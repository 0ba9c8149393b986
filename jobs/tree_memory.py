"""Peak resident memory of this process and every process it started (Ray's raylet, workers,
actors), sampled from /proc while a benchmark runs.

Why not ru_maxrss: it covers one process, and a pipeline's frames live in many. The sum of RSS
counts shared pages (Ray's object store, libraries) once per process that maps them, so it is an
upper bound; it is the same bound for a short and a long clip, which is what the comparison needs.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

PROC = Path("/proc")


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        # Fields after the command name (which may hold spaces), in parentheses.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    return children


def _rss_kib(pid: int) -> int:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mib(root: int | None = None) -> float:
    """Summed resident memory (MiB) of ``root`` (default: this process) and all its descendants."""
    root = root or os.getpid()
    children = _children_by_parent()
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_kib(pid)
        stack.extend(children.get(pid, ()))
    return total / 1024.0


class PeakTreeMemory:
    """``with PeakTreeMemory() as peak: ...`` then ``peak.mib``: the highest sum seen (every ``interval_s``)."""

    def __init__(self, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self.mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-memory", daemon=True)

    @staticmethod
    def supported() -> bool:
        return (PROC / "self" / "status").exists()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.mib = max(self.mib, tree_rss_mib())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "PeakTreeMemory":
        if self.supported():
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
