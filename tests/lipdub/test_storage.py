import os

import fsspec
import pytest

from lipdub import storage
from lipdub.storage import (
    atomic_output,
    configure_filesystem,
    filesystem_for,
    join_uri,
    local_path,
    open_uri,
    uri_exists,
)


@pytest.fixture
def mem_root():
    """A fresh memory:// folder, removed afterwards (the memory fs is process-global)."""
    fs = fsspec.filesystem("memory")
    root = f"memory://lipdub-test-{os.getpid()}-{id(fs)}"
    yield root
    if fs.exists(root):
        fs.rm(root, recursive=True)


# --- local -----------------------------------------------------------------------------------


def test_atomic_output_local_success_leaves_exactly_the_file(tmp_path):
    final = tmp_path / "out" / "video.mp4"  # parent is created
    with atomic_output(str(final), ".mp4") as tmp:
        assert tmp.endswith(".mp4") and os.path.dirname(tmp) == str(final.parent)
        with open(tmp, "wb") as f:
            f.write(b"data")
        assert not final.exists()
    assert final.read_bytes() == b"data"
    assert os.listdir(final.parent) == ["video.mp4"]


def test_atomic_output_local_exception_leaves_nothing(tmp_path):
    final = tmp_path / "video.mp4"
    with pytest.raises(RuntimeError):
        with atomic_output(str(final), ".mp4") as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise RuntimeError("encoder died")
    assert os.listdir(tmp_path) == []


def test_atomic_output_keeps_previous_file_on_failure(tmp_path):
    final = tmp_path / "video.mp4"
    final.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(str(final), ".mp4") as tmp:
            open(tmp, "wb").write(b"new")
            raise KeyboardInterrupt
    assert final.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["video.mp4"]


def test_atomic_output_file_uri(tmp_path):
    final = tmp_path / "a.txt"
    with atomic_output(f"file://{final}", ".txt") as tmp:
        open(tmp, "w").write("x")
    assert final.read_text() == "x"
    assert uri_exists(f"file://{final}") and uri_exists(str(final))


def test_local_path_passes_local_paths_through(tmp_path):
    p = tmp_path / "in.wav"
    p.write_bytes(b"x")
    with local_path(str(p)) as got:
        assert got == str(p)
    with local_path(f"file://{p}") as got:
        assert got == str(p)
    assert p.exists()


def test_join_uri():
    assert join_uri("s3://bucket/root/", "a", "/b/", "c.mp4") == "s3://bucket/root/a/b/c.mp4"
    assert join_uri("memory://x", "") == "memory://x"
    assert join_uri("/data/out", "a", "b.mp4") == os.path.join("/data/out", "a", "b.mp4")


def test_open_uri_local(tmp_path):
    p = tmp_path / "t.txt"
    with open_uri(str(p), "wb") as f:
        f.write(b"hello")
    with open_uri(str(p)) as f:
        assert f.read() == b"hello"


# --- memory:// ---------------------------------------------------------------------------------


def test_memory_round_trip(mem_root):
    uri = join_uri(mem_root, "sub", "clip.mp4")
    assert not uri_exists(uri)
    with atomic_output(uri, ".mp4") as tmp:
        assert tmp.endswith(".mp4")
        open(tmp, "wb").write(b"payload")
        assert not uri_exists(uri)
    assert uri_exists(uri)
    with open_uri(uri) as f:
        assert f.read() == b"payload"
    with local_path(uri) as local:
        assert local.endswith(".mp4") and open(local, "rb").read() == b"payload"
        tmpdir = os.path.dirname(local)
    assert not os.path.exists(tmpdir)


def test_memory_exception_leaves_nothing(mem_root):
    uri = join_uri(mem_root, "clip.mp4")
    with pytest.raises(ValueError):
        with atomic_output(uri, ".mp4") as tmp:
            open(tmp, "wb").write(b"half")
            tmpdir = os.path.dirname(tmp)
            raise ValueError("boom")
    assert not uri_exists(uri)
    assert not os.path.exists(tmpdir)


def test_partial_then_move_for_non_object_stores(mem_root, monkeypatch):
    monkeypatch.setattr(storage, "_ATOMIC_PUT_PROTOCOLS", frozenset())
    uri = join_uri(mem_root, "d", "x.bin")
    with atomic_output(uri, ".bin") as tmp:
        open(tmp, "wb").write(b"1")
    fs = filesystem_for(uri)
    assert fs.ls(mem_root + "/d", detail=False) == [fs._strip_protocol(uri)]


def test_configure_filesystem_and_env(monkeypatch):
    monkeypatch.setenv("LIPDUB_S3_ENDPOINT_URL", "http://127.0.0.1:1")
    assert storage._options_for("s3", {}) == {"endpoint_url": "http://127.0.0.1:1"}
    configure_filesystem("s3", endpoint_url="http://127.0.0.1:2", key="k")
    try:
        assert storage._options_for("s3", {"key": "z"}) == {"endpoint_url": "http://127.0.0.1:2",
                                                          "key": "z"}
    finally:
        configure_filesystem("s3")
    assert storage._options_for("memory", {}) == {}


# --- a real S3-compatible server on loopback (fixture s3_server in tests/conftest.py) ---------


def test_s3_atomic_output_and_local_path(s3_server, tmp_path):
    uri = join_uri("s3://lipdub", "out", "clip.mp4")
    fs = filesystem_for(uri)
    fs.invalidate_cache()
    assert not uri_exists(uri)

    with pytest.raises(RuntimeError):
        with atomic_output(uri, ".mp4") as tmp:
            open(tmp, "wb").write(b"half")
            raise RuntimeError("render failed")
    fs.invalidate_cache()
    assert not uri_exists(uri)
    assert fs.find("lipdub") == []

    with atomic_output(uri, ".mp4") as tmp:
        open(tmp, "wb").write(b"finished")
    fs.invalidate_cache()
    assert uri_exists(uri)
    assert fs.find("lipdub") == ["lipdub/out/clip.mp4"]
    with local_path(uri) as local:
        assert open(local, "rb").read() == b"finished"
    with open_uri(uri) as f:
        assert f.read() == b"finished"


def test_s3_endpoint_from_env(s3_server, monkeypatch):
    configure_filesystem("s3")
    monkeypatch.setenv("LIPDUB_S3_ENDPOINT_URL", s3_server)
    uri = "s3://lipdub/env/x.txt"
    with atomic_output(uri, ".txt") as tmp:
        open(tmp, "w").write("via env")
    fs = filesystem_for(uri, skip_instance_cache=True)
    fs.invalidate_cache()
    assert fs.cat_file("lipdub/env/x.txt") == b"via env"


def test_atomic_local_output_has_normal_permissions(tmp_path):
    import os
    import stat

    from lipdub.storage import atomic_output

    final = tmp_path / "out.bin"
    with atomic_output(str(final), suffix=".bin") as temporary:
        with open(temporary, "wb") as handle:
            handle.write(b"x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(final.stat().st_mode) == 0o666 & ~mask
