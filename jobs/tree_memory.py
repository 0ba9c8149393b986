"""Peak resident memory of this process and every process it started (Ray's raylet, workers,
actors), sampled from /proc while a benchmark runs.

Why not ru_maxrss: it covers one process, and a pipeline's frames live in many. The sum of RSS
counts shared pages (Ray's object store, libraries) once per process that maps them, so it is an
upper bound; it is the same bound for a short and a long clip, which is what the comparison needs.
The sum of PSS (proportional set size: each shared page split between the processes that map it)
counts every page once, so it is the fairer figure for "how much memory does the run need".
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


def _field_kib(path: Path, field: str) -> int:
    """A ``Name:  N kB`` line of a /proc file, 0 when the process is gone or has no such line."""
    try:
        for line in path.read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _rss_kib(pid: int) -> int:
    return _field_kib(PROC / str(pid) / "status", "VmRSS:")


def _pss_kib(pid: int) -> int:
    return _field_kib(PROC / str(pid) / "smaps_rollup", "Pss:")


def process_tree(root: int | None) -> list[int]:
    """``root`` (default: this process) and all its descendants."""
    children = _children_by_parent()
    found, stack = [], [root or os.getpid()]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, ()))
    return found


def _rss_mib(pids: list[int]) -> float:
    return sum(_rss_kib(pid) for pid in pids) / 1024.0


def _pss_mib(pids: list[int]) -> float:
    return sum(_pss_kib(pid) for pid in pids) / 1024.0


def tree_rss_mib(root: int | None = None) -> float:
    """Summed resident memory (MiB) of ``root`` (default: this process) and all its descendants."""
    return _rss_mib(process_tree(root))


def tree_pss_mib(root: int | None = None) -> float:
    """Summed proportional memory (MiB) of the tree: shared pages counted once in all."""
    return _pss_mib(process_tree(root))


class PeakTreeMemory:
    """``with PeakTreeMemory() as peak: ...`` then ``peak.mib`` (RSS sum) and ``peak.pss_mib`` (PSS
    sum): the highest sums seen, sampled every ``interval_s``.

    ``pss=False`` samples RSS only. Reading smaps_rollup walks every page table of every process
    (Ray's workers map gigabytes): on 2 cores, sampling PSS every 0.5 s cost a 60 s dub about 15
    core-seconds and slowed it by a fifth, so a speed benchmark must not do it.
    """

    def __init__(self, interval_s: float = 0.5, pss: bool = True) -> None:
        self.interval_s = interval_s
        self.pss = pss
        self.mib = 0.0
        self.pss_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-memory", daemon=True)

    @staticmethod
    def supported() -> bool:
        return (PROC / "self" / "status").exists()

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = process_tree(None)  # one walk of /proc for both sums
            self.mib = max(self.mib, _rss_mib(pids))
            if self.pss:
                self.pss_mib = max(self.pss_mib, _pss_mib(pids))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "PeakTreeMemory":
        if self.supported():
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
