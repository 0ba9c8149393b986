"""Shared fixtures: paths to the optional real media beside the project."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# Keep every Ray port on loopback and skip token auth in tests (see shared/RAY_NOTES.md).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

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
