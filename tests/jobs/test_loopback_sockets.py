"""A local run opens no port to the network: every socket its Ray processes listen on is loopback.

The commands run as a user would run them, with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER removed from
their environment (the test scripts set it), so what keeps Ray on 127.0.0.1 is lipdub itself.
Each run's processes carry a marker variable that Ray passes on to every process it starts; the
test samples their listening sockets from /proc/net/tcp and tcp6 while the run goes on.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.listening_sockets import Listener, listeners_of
from tests.ray_processes import processes_with_env, stop_processes_with_env

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")]

MARK = "LIPDUB_SOCKET_TEST_RUN"
log = logging.getLogger(__name__)
PROJECT = Path(__file__).resolve().parents[2]


def _environment(marker: str, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_ADDRESS")}
    env.update({MARK: marker, "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1"}, **extra)
    return env


class _ListenerSampler:
    """Collects the listening sockets of the marked processes every 0.3 s until stopped."""

    def __init__(self, marker: str, driver: subprocess.Popen) -> None:
        self.marker, self.driver = marker, driver
        self.seen: set[Listener] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "_ListenerSampler":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def sample(self) -> None:
        self.seen.update(listeners_of(processes_with_env(MARK, self.marker) + [self.driver.pid]))

    def _run(self) -> None:
        while not self._stop.wait(0.3):
            self.sample()


def _by_address(listeners: set[Listener]) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for listener in sorted(listeners, key=lambda item: (item.address, item.executable, item.port)):
        table.setdefault(listener.address, []).append(f"{listener.executable}:{listener.port}")
    return table


def _stop_marked(marker: str) -> None:
    stop_processes_with_env(MARK, marker, grace_s=5.0)


def test_a_local_dub_listens_only_on_loopback(demo_inputs, tmp_path: Path) -> None:
    source, dub = demo_inputs
    marker = uuid.uuid4().hex
    command = [sys.executable, "-m", "jobs.cli", "dub", "--video", str(source), "--audio", str(dub),
               "--output", str(tmp_path / "out.mp4"), "--work-root", str(tmp_path / "work")]
    driver = subprocess.Popen(command, cwd=PROJECT, env=_environment(marker), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with _ListenerSampler(marker, driver) as sampler:
            output, _ = driver.communicate(timeout=600)
    finally:
        _stop_marked(marker)
    assert driver.returncode == 0, output[-3000:]
    log.info("listening sockets of a local dub, by address: %s", _by_address(sampler.seen))
    executables = {listener.executable for listener in sampler.seen}
    # The sampler really saw Ray: its GCS, raylet and workers listen while the dub runs.
    assert {"gcs_server", "raylet"} <= executables, _by_address(sampler.seen)
    assert len(sampler.seen) >= 4, _by_address(sampler.seen)
    exposed = [listener for listener in sampler.seen if not listener.loopback]
    assert not exposed, f"listening beyond loopback: {_by_address(set(exposed))}"


def test_a_user_who_asks_for_a_networked_ray_gets_one_and_the_sampler_sees_it(tmp_path: Path) -> None:
    """The check above can fail: with the variable set to 1 by the user, Ray listens on every
    interface (and lipdub keeps the user's choice)."""
    marker = uuid.uuid4().hex
    script = ("import time, ray; from pipelines.ray_adapter import ensure_ray; ensure_ray(num_cpus=2); "
              "ray.get(ray.remote(lambda: 1).remote()); print('ready', flush=True); time.sleep(60)")
    driver = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT, env=_environment(marker, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="1"),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        assert driver.stdout is not None
        while time.monotonic() < deadline and driver.stdout.readline().strip() != "ready":
            assert driver.poll() is None, "the driver ended before Ray was ready"
        sampler = _ListenerSampler(marker, driver)
        sampler.sample()
    finally:
        driver.kill()
        driver.wait(timeout=30)
        _stop_marked(marker)
    assert any(not listener.loopback for listener in sampler.seen), _by_address(sampler.seen)


@pytest.mark.long  # a Serve start-up (about a minute on 2 cores): the long tier
def test_lipdub_serve_listens_only_on_loopback_without_a_network_namespace(tmp_path: Path) -> None:
    """Ray kept on loopback and Serve's replica gRPC server moved there (lipdub/api/serve_loopback.py):
    `lipdub serve` on a shared host exposes nothing but what it is told to (here 127.0.0.1)."""
    (tmp_path / "in").mkdir()
    config = tmp_path / "api.yaml"
    config.write_text(f"work_root: {tmp_path / 'work'}\napi: {{input_prefixes: [{tmp_path / 'in'}], output_root: {tmp_path / 'out'}}}\n")
    marker = uuid.uuid4().hex
    server = subprocess.Popen([sys.executable, "-m", "jobs.cli", "serve", "--port", "0", "--config", str(config)], cwd=PROJECT,
                              env=_environment(marker, LIPDUB_API_TOKENS="socket-test-token"),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    assert server.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(server.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and server.poll() is None and not any("listening at" in line for line in lines):
            time.sleep(0.5)
        assert any("listening at" in line for line in lines), "".join(lines)[-3000:]
        sampler = _ListenerSampler(marker, server)
        sampler.sample()
        replicas = [listener for listener in sampler.seen if listener.executable.startswith("ray::ServeReplica")]
        assert replicas, _by_address(sampler.seen)
        # The API answers on one of the loopback ports the proxy listens on.
        proxy_ports = [listener.port for listener in sampler.seen if listener.executable == "ray::ProxyActor"]
        session = requests.Session()
        session.trust_env = False
        answered = []
        for port in proxy_ports:
            try:
                answered.append(session.get(f"http://127.0.0.1:{port}/v1/health", timeout=10).json())
            except (requests.RequestException, ValueError):
                continue
        assert {"status": "ok"} in answered, proxy_ports
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=120)
        finally:
            reader.join(timeout=10)
            _stop_marked(marker)
    exposed = [listener for listener in sampler.seen if not listener.loopback]
    assert not exposed, f"listening beyond loopback: {_by_address(set(exposed))}"
