"""Runs the Ray Serve API tests (tests/lipdub/api/serve/) in a private network namespace.

Serve's replicas open an internal gRPC server on every interface, with no setting to change it
(../shared/RAY_NOTES.md); inside ``unshare -n`` the only interface is loopback, so nothing the
tests start is reachable from outside. The inner tests skip themselves anywhere else.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lipdub.api.serve.netns import NETNS_ENV

REPO = Path(__file__).resolve().parents[3]


def _can_unshare_network() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_serve_api_suite_in_a_private_network_namespace() -> None:
    if os.environ.get(NETNS_ENV):
        pytest.skip("already inside the private namespace (this is the outer runner)")
    if not _can_unshare_network():
        pytest.skip("needs `unshare -n` (root, or unprivileged user namespaces) to isolate Serve's listeners")
    env = dict(os.environ, **{NETNS_ENV: "1", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"})
    command = ["unshare", "-n", sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests/lipdub/api/serve"]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1400)
    sys.stdout.write(result.stdout[-20000:])
    sys.stderr.write(result.stderr[-5000:])
    assert result.returncode == 0, f"inner API suite failed (rc {result.returncode}):\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary, summary
