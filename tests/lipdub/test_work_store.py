"""The work store on a local root and on a real S3-compatible server (moto, on loopback).

S3 requests are counted with botocore's own event hooks on the session s3fs uses, so "this call
did not touch S3" is what the client really sent, not a guess from timings.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from lipdub.storage import configure_filesystem, filesystem_for, join_uri, local_path, uri_exists
from lipdub.work_store import (
    COMPLETE_MARKER,
    analysis_uri,
    fetch_directory,
    fetch_member,
    is_complete,
    publish_directory,
    publish_file,
)

FILES = {"faces.npz": b"faces-bytes", "atlas/crops.npy": b"crops" * 1000, "atlas/meta.npz": b"meta"}


@pytest.fixture(autouse=True)
def node_cache(tmp_path, monkeypatch) -> Path:
    """This test's node-local cache (so nothing lands in the real one and nodes can be told apart)."""
    cache = tmp_path / "node-a"
    monkeypatch.setenv("LIPDUB_NODE_CACHE", str(cache))
    return cache


def become_another_node(tmp_path, monkeypatch, name: str) -> Path:
    cache = tmp_path / name
    monkeypatch.setenv("LIPDUB_NODE_CACHE", str(cache))
    return cache


@pytest.fixture(params=["local", "s3"])
def work_root(request, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path / "work")
    request.getfixturevalue("s3_server")
    return "s3://lipdub/work"


@pytest.fixture
def s3_calls(s3_server) -> list[tuple[str, str | None, str | None]]:
    """(operation, key or prefix, IfNoneMatch) of every S3 request lipdub's filesystem makes."""
    aiobotocore_session = pytest.importorskip("aiobotocore.session")
    calls: list[tuple[str, str | None, str | None]] = []

    def record(params, model, **_):
        calls.append((model.name, params.get("Key") or params.get("Prefix"), params.get("IfNoneMatch")))

    session = aiobotocore_session.get_session()
    session.register("before-parameter-build.s3", record)
    configure_filesystem("s3", key="test", secret="test", endpoint_url=s3_server,
                         skip_instance_cache=True, session=session)
    return calls  # s3_server resets the filesystem options afterwards


def write_files(directory: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(data)


def read_files(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def remote_keys(uri: str) -> list[str]:
    fs = filesystem_for(uri)
    fs.invalidate_cache()
    return sorted(fs.find(fs._strip_protocol(uri)))


# --- published directories ----------------------------------------------------------------------


def test_analysis_uri_is_under_the_work_root(tmp_path):
    assert analysis_uri("s3://b/work", "abc") == "s3://b/work/analysis/abc"
    assert analysis_uri(str(tmp_path), "abc") == str(tmp_path / "analysis" / "abc")


def test_publish_then_fetch_round_trips(work_root, tmp_path, monkeypatch):
    uri = analysis_uri(work_root, "key1")
    assert not is_complete(uri)
    with publish_directory(uri) as staging:
        assert staging.is_dir() and not any(staging.iterdir())
        write_files(staging, FILES)
        assert not is_complete(uri)  # nothing is visible before the block ends
    assert is_complete(uri)

    fetched = fetch_directory(uri)
    if work_root.startswith("s3://"):
        become_another_node(tmp_path, monkeypatch, "node-b")
        downloaded = fetch_directory(uri)
        assert downloaded != fetched and downloaded.is_relative_to(tmp_path / "node-b")
        assert read_files(downloaded) == FILES
    else:
        assert fetched == Path(uri)  # a local root is used in place: no copy
    assert {k: v for k, v in read_files(fetched).items() if k != COMPLETE_MARKER} == FILES
    assert fetch_member(join_uri(uri, "atlas")).joinpath("meta.npz").read_bytes() == b"meta"
    assert fetch_member(join_uri(uri, "faces.npz")).read_bytes() == b"faces-bytes"


def test_failed_publish_leaves_nothing(work_root, node_cache):
    uri = analysis_uri(work_root, "key2")
    with pytest.raises(RuntimeError, match="analysis failed"):
        with publish_directory(uri) as staging:
            write_files(staging, FILES)
            raise RuntimeError("analysis failed")
    assert not is_complete(uri)
    with pytest.raises(FileNotFoundError, match="not a published work-store directory"):
        fetch_directory(uri)
    if work_root.startswith("s3://"):
        assert remote_keys(work_root) == []
        assert list(node_cache.iterdir()) == []  # the staging directory is gone too
    else:
        assert list(Path(work_root, "analysis").iterdir()) == []


def test_a_directory_without_its_marker_is_not_trusted(work_root):
    """What a publisher that crashed mid-upload leaves behind: files, no COMPLETE marker."""
    uri = analysis_uri(work_root, "key3")
    if work_root.startswith("s3://"):
        fs = filesystem_for(uri)
        fs.pipe_file(fs._strip_protocol(join_uri(uri, "v-0123456789abcdef", "faces.npz")), b"half")
    else:
        write_files(Path(uri), {"faces.npz": b"half"})
    assert not is_complete(uri)
    with pytest.raises(FileNotFoundError, match="no COMPLETE marker"):
        fetch_directory(uri)
    with pytest.raises(FileNotFoundError):
        fetch_member(join_uri(uri, "faces.npz"))

    # The next publisher replaces the leftovers.
    with publish_directory(uri) as staging:
        write_files(staging, FILES)
    assert read_files(fetch_directory(uri)).get("faces.npz") == FILES["faces.npz"]


def test_remote_publish_uploads_every_file_before_the_marker(s3_calls):
    uri = analysis_uri("s3://lipdub/work", "key4")
    with publish_directory(uri) as staging:
        write_files(staging, FILES)
    puts = [(key, condition) for operation, key, condition in s3_calls if operation == "PutObject"]
    assert len(puts) == len(FILES) + 1
    marker_key, marker_condition = puts[-1]
    assert marker_key == "work/analysis/key4/COMPLETE"
    assert marker_condition == "*"  # an exclusive create: a marker already there is never replaced
    version = filesystem_for(uri).cat_file("lipdub/work/analysis/key4/COMPLETE").decode()
    assert sorted(key for key, _ in puts[:-1]) == sorted(f"work/analysis/key4/{version}/{name}" for name in FILES)


def test_remote_fetch_downloads_once_per_node(s3_calls, tmp_path, monkeypatch):
    uri = analysis_uri("s3://lipdub/work", "key5")
    with publish_directory(uri) as staging:
        write_files(staging, FILES)

    s3_calls.clear()
    assert read_files(fetch_directory(uri)) == FILES  # the publisher's node kept its staging copy
    assert s3_calls == []

    become_another_node(tmp_path, monkeypatch, "node-b")
    first = fetch_directory(uri)
    downloads = [key for operation, key, _ in s3_calls if operation == "GetObject" and not key.endswith(COMPLETE_MARKER)]
    assert len(downloads) == len(FILES)
    assert read_files(first) == FILES
    stamp = first.stat().st_mtime_ns

    s3_calls.clear()
    second = fetch_directory(uri)
    assert second == first
    assert s3_calls == []  # not a single request on the second call
    assert second.stat().st_mtime_ns == stamp
    assert [p.name for p in (tmp_path / "node-b").iterdir()] == [first.name]  # no staging leftovers


def test_a_later_publisher_keeps_the_first_one(work_root):
    uri = analysis_uri(work_root, "key6")
    with publish_directory(uri) as first:
        write_files(first, {"who": b"first"})
    with publish_directory(uri) as second:
        write_files(second, {"who": b"second", "extra": b"x"})
    assert {k: v for k, v in read_files(fetch_directory(uri)).items() if k != COMPLETE_MARKER} == {"who": b"first"}


def test_two_racing_publishers_one_wins_intact(work_root, s3_calls_if_remote):
    """Both publishers finish staging at the same moment; the result is entirely one of them."""
    uri = analysis_uri(work_root, "key7")
    names = [f"part{i:02d}" for i in range(12)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def publish(tag: bytes) -> None:
        try:
            with publish_directory(uri) as staging:
                write_files(staging, {name: tag for name in names})
                barrier.wait(timeout=30)
        except BaseException as error:  # noqa: BLE001 - re-raised in the test thread below
            errors.append(error)

    threads = [threading.Thread(target=publish, args=(tag,)) for tag in (b"A", b"B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    content = {k: v for k, v in read_files(fetch_directory(uri)).items() if k != COMPLETE_MARKER}
    assert sorted(content) == names
    assert len(set(content.values())) == 1, content  # never a mix of the two

    if work_root.startswith("s3://"):
        keys = remote_keys(uri)
        versions = {key.split("/")[4] for key in keys if not key.endswith(COMPLETE_MARKER)}
        marker = filesystem_for(uri).cat_file(f"lipdub/work/analysis/key7/{COMPLETE_MARKER}").decode()
        assert versions == {marker}  # the loser removed its upload
        uploaded = {key.split("/")[3] for operation, key, _ in s3_calls_if_remote
                    if operation == "PutObject" and not key.endswith(COMPLETE_MARKER)}
        assert len(uploaded) in (1, 2)  # 2: both uploaded and the exclusive marker decided
    else:
        assert sorted(p.name for p in Path(uri).parent.iterdir()) == ["key7"]  # no staging leftovers


@pytest.fixture
def s3_calls_if_remote(request, work_root):
    if work_root.startswith("s3://"):
        return request.getfixturevalue("s3_calls")
    return []


# --- single files ---------------------------------------------------------------------------------


def test_publish_file_round_trips_and_keeps_the_suffix(work_root):
    uri = join_uri(work_root, "items", "a", "plan.npz")
    with publish_file(uri) as staging:
        assert staging.endswith(".npz")
        np.savez(staging, x=np.arange(3))
    with local_path(uri) as path, np.load(path) as data:
        assert data["x"].tolist() == [0, 1, 2]

    with publish_file(uri) as staging:  # per-item files are mutable: a rerun replaces them
        np.savez(staging, x=np.arange(5))
    with local_path(uri) as path, np.load(path) as data:
        assert data["x"].tolist() == [0, 1, 2, 3, 4]


def test_publish_file_failure_leaves_nothing(work_root):
    uri = join_uri(work_root, "items", "a", "segments", "00000.mp4")
    with pytest.raises(RuntimeError):
        with publish_file(uri) as staging:
            assert staging.endswith(".mp4")
            Path(staging).write_bytes(b"half a video")
            raise RuntimeError("encoder failed")
    assert not uri_exists(uri)
    if work_root.startswith("s3://"):
        assert remote_keys(work_root) == []
    else:
        assert list(Path(uri).parent.iterdir()) == []
