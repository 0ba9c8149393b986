"""Find and stop the Ray processes a test started, by a marker in their environment.

``ray start`` daemonizes and ``ray.cluster_utils.Cluster`` spawns detached processes, so they are
not the test's children; ``ray stop`` would stop every Ray on the machine. Tests give their Ray a
private ``RAY_TMPDIR`` and stop exactly the processes that carry it.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def processes_with_env(name: str, value: str) -> list[int]:
    """PIDs of live processes whose environment holds ``name=value`` (zombies have none)."""
    needle = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def stop_processes_with_env(name: str, value: str, grace_s: float = 10.0) -> list[int]:
    """Stop every process marked ``name=value`` in ``ray stop``'s order: raylets first (their
    workers and agents go with them), then the rest, the GCS last. SIGTERM, then SIGKILL for
    whatever outlives ``grace_s`` per step."""
    stopped: list[int] = []
    for in_step in (lambda exe: exe == "raylet", lambda exe: exe not in ("raylet", "gcs_server"), lambda exe: exe == "gcs_server"):
        pids = [pid for pid in processes_with_env(name, value) if in_step(executable(pid))]
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while (left := set(pids) & set(processes_with_env(name, value))) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in left:
            _signal(pid, signal.SIGKILL)
        stopped += pids
    for pid in processes_with_env(name, value):  # started while the others stopped
        _signal(pid, signal.SIGKILL)
    return stopped


def executable(pid: int) -> str:
    """The file name of a process's executable (its command line's first word)."""
    try:
        return Path((Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")[0].decode()).name
    except OSError:
        return ""


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
