"""lipdub.loopback: the loopback default reaches Ray whatever was imported first, and only then."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]

# Prints what Ray would do (its constant) and the variable its processes will inherit.
_REPORT = ("import json, os, sys; from ray._private import ray_constants as c; "
           "print(json.dumps([c.ENABLE_RAY_CLUSTER, os.environ.get('RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER')]))")


def _run(code: str, **env: str) -> list:
    clean = {name: value for name, value in os.environ.items() if name not in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_ADDRESS")}
    clean.update(env)
    done = subprocess.run([sys.executable, "-c", f"{code}; {_REPORT}"], cwd=PROJECT, env=clean, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_any_lipdub_package_before_ray_keeps_ray_on_loopback() -> None:
    for package in ("lipdub", "jobs", "pipelines", "operators", "models"):
        assert _run(f"import {package}; import ray") == [False, "0"], package


def test_ray_imported_first_is_brought_to_loopback_by_lipdub() -> None:
    assert _run("import ray; import lipdub") == [False, "0"]


def test_a_value_the_user_set_is_kept() -> None:
    assert _run("import lipdub; import ray", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="1") == [True, "1"]
    assert _run("import lipdub; from lipdub import loopback; loopback.for_cluster()", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0") == [False, "0"]


def test_a_job_submitted_to_a_cluster_is_left_alone() -> None:
    # `ray job submit` sets RAY_ADDRESS: the driver must register under its reachable address.
    assert _run("import lipdub; import ray", RAY_ADDRESS="10.0.0.5:6379") == [True, None]


def test_joining_by_address_undoes_the_default_lipdub_applied() -> None:
    assert _run("import lipdub; import ray; from lipdub import loopback; loopback.for_cluster()") == [True, None]
    assert _run("import lipdub; import ray; from lipdub import loopback; loopback.for_cluster(); loopback.for_local_ray()") == [False, "0"]
