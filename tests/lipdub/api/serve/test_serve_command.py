"""`lipdub serve` as an operator runs it: listens where told, answers, stops cleanly on SIGTERM."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from tests.lipdub.api.serve.netns import bring_loopback_up, free_loopback_port


def test_lipdub_serve_listens_on_the_given_port_and_stops_on_sigterm(tmp_path: Path) -> None:
    bring_loopback_up()
    (tmp_path / "in").mkdir()
    config = tmp_path / "api.yaml"
    (tmp_path / "in" / "acme").mkdir()
    config.write_text(f"work_root: {tmp_path / 'work'}\napi: {{input_prefixes: [{tmp_path / 'in'}], output_root: {tmp_path / 'out'},"
                      f" tenants: {{acme: {{input_prefixes: [{tmp_path / 'in' / 'acme'}]}}}}}}\n")
    port = free_loopback_port()
    env = dict(os.environ, LIPDUB_API_TOKENS="cli-token", LIPDUB_API_TENANT_TOKENS="acme=acme-token",
               LIPDUB_API_ADMIN_TOKENS="admin-token", PYTHONUNBUFFERED="1", RAY_ADDRESS="")
    env.pop("RAY_ADDRESS")
    server = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "serve", "--port", str(port), "--config", str(config)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(server.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        # Ready when it says so (the proxy may answer a moment before `serve.run` returns, and a
        # SIGTERM before the command's own handler is installed kills it the hard way).
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and server.poll() is None and not any("listening at" in line for line in lines):
            time.sleep(0.5)
        assert any(f"listening at http://127.0.0.1:{port}" in line for line in lines), "".join(lines)[-3000:]
        session = requests.Session()
        session.trust_env = False
        health = session.get(f"http://127.0.0.1:{port}/v1/health", timeout=30)
        assert health.json() == {"status": "ok"}
        # Every kind of token from the environment is accepted: legacy, a tenant's, an admin's.
        for token in ("cli-token", "acme-token", "admin-token"):
            listed = session.get(f"http://127.0.0.1:{port}/v1/dubs", headers={"Authorization": f"Bearer {token}"}, timeout=30)
            assert listed.status_code == 200 and listed.json() == {"dubs": []}, token
        assert session.get(f"http://127.0.0.1:{port}/v1/dubs", timeout=30).status_code == 401
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
        reader.join(timeout=10)
    assert server.returncode == 0, "".join(lines)[-3000:]
