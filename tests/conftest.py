"""Shared fixtures: paths to the optional real media beside the project."""
from __future__ import annotations

import contextlib
import os
import socket
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

# Keep every Ray port on loopback and skip token auth in tests (see shared/RAY_NOTES.md).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

_OUTCOMES: dict[str, int] = {"passed": 0, "skipped": 0}


def pytest_runtest_logreport(report) -> None:
    if report.passed and report.when == "call":
        _OUTCOMES["passed"] += 1
    elif report.skipped:
        _OUTCOMES["skipped"] += 1


def pytest_sessionfinish(session, exitstatus) -> None:
    """A run that skipped everything it selected (a stray hook or marker) fails: a green run must
    have tested something."""
    if exitstatus == 0 and not session.config.option.collectonly and _OUTCOMES["skipped"] and not _OUTCOMES["passed"]:
        session.exitstatus = 1
        print(f"\nerror: {_OUTCOMES['skipped']} tests skipped and none passed")  # noqa: T201


SHARED_MEDIA = Path(os.environ.get("LIPDUB_SHARED_MEDIA", Path(__file__).resolve().parents[1].parent / "shared" / "media"))


@pytest.fixture(scope="session")
def shared_media() -> Path:
    """The real talking-head clips and dub tracks; skip when they are not beside the project."""
    if not (SHARED_MEDIA / "clips").is_dir():
        pytest.skip(f"real media not found at {SHARED_MEDIA} (set LIPDUB_SHARED_MEDIA)")
    return SHARED_MEDIA


@pytest.fixture(scope="session")
def ray_local():
    """One embedded local Ray for the whole test session, on loopback."""
    import ray

    from pipelines.ray_adapter import ensure_ray

    ensure_ray(num_cpus=4)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def demo_inputs(tmp_path_factory):
    """The demo's own sample: an animated face photo with synthesized speech, and a dub track."""
    from jobs.demo import build_demo_inputs

    source, dub = build_demo_inputs(tmp_path_factory.mktemp("demo_inputs"))
    return source, dub


# --- a real S3-compatible server (moto) on loopback --------------------------------------------


def _loopback_bindable() -> bool:
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
        return True
    except OSError:
        return False


@contextlib.contextmanager
def _moto_s3(bucket: str) -> Iterator[str]:
    """Start moto's S3 server on 127.0.0.1 with `bucket` created and point lipdub's s3:// filesystem
    at it (process-wide options, plus the AWS credential variables); yields the endpoint URL."""
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    from lipdub.storage import configure_filesystem

    if not _loopback_bindable():
        pytest.skip("cannot bind to 127.0.0.1")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    with pytest.MonkeyPatch.context() as patch:
        # Credentials for the local fake server only (moto accepts anything).
        for var, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                           "AWS_DEFAULT_REGION": "us-east-1"}.items():
            patch.setenv(var, value)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            # moto keeps its state per process, not per server: start from an empty store.
            urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
            boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
            configure_filesystem("s3", key="test", secret="test", endpoint_url=endpoint,
                                 skip_instance_cache=True)
            yield endpoint
        finally:
            configure_filesystem("s3")
            server.stop()


@pytest.fixture
def s3_server() -> Iterator[str]:
    """A fresh S3 server for one test, with an empty bucket ``lipdub``; yields its endpoint."""
    with _moto_s3("lipdub") as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def s3_server_for_module() -> Iterator[str]:
    """Like `s3_server`, shared by the tests of one module (bucket ``lipdub``)."""
    with _moto_s3("lipdub") as endpoint:
        yield endpoint
