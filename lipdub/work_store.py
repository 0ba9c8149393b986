"""The work store: per-source cached analyses and per-item artifacts, under any fsspec URI.

``work_root`` is a local path (the default: nothing is copied) or a URI every node can reach
(``s3://bucket/work`` on a multi-node cluster, where nodes share no disk). Two kinds of artifact:

Published directories (``<work_root>/analysis/<key>/``): content-keyed and immutable once
published. `publish_directory` yields a local staging directory and publishes it only when the
block succeeds, with a ``COMPLETE`` marker as the last step, so no reader ever trusts a partial
directory (`is_complete`, `fetch_directory`). The first publisher wins; later ones keep theirs.

- Local root: the staging directory (beside the final one, marker inside) is renamed into place.
- Remote root: every file is uploaded under ``<dir>/<version>/`` (a name unique to this publisher)
  and then ``<dir>/COMPLETE`` is created, holding the version's name, with an exclusive create
  (atomic on S3; an exists-check elsewhere). Two publishers racing therefore never mix their
  files: each uploads its own version and only the one the marker names is ever read; the loser
  deletes its upload. So on a remote root the files are not at ``<dir>/<name>`` itself: read them
  through `fetch_directory` / `fetch_member`, which download the named version once per node
  into a node-local cache (``LIPDUB_NODE_CACHE``, default ``<tmp>/lipdub-node-cache``); the
  publisher's own node keeps its staging directory there as that copy.

Single files (``<work_dir>/plan.npz``, ``segments/00000.mp4``, the cached
``analysis/<key>/source_speech.npz``, ...): written with `publish_file` (a local staging file,
moved or uploaded into place only on success, so a file that exists is whole); read them with
`lipdub.storage.local_path`. Per-item ones are rewritten by a rerun.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import posixpath
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

from fsspec.core import split_protocol

from lipdub.storage import atomic_output, filesystem_for, is_local, join_uri, uri_exists

log = logging.getLogger(__name__)

COMPLETE_MARKER = "COMPLETE"
_VERSION = re.compile(r"v-[0-9a-f]{16}")


def analysis_uri(work_root: str, key: str) -> str:
    """The published directory of the cached analysis `key`."""
    return join_uri(work_root, "analysis", key)


def is_complete(uri: str) -> bool:
    """Whether the directory at `uri` has been published (its ``COMPLETE`` marker exists)."""
    return uri_exists(join_uri(uri, COMPLETE_MARKER))


@contextlib.contextmanager
def publish_directory(final_uri: str) -> Iterator[Path]:
    """Yield a local staging directory; on success publish it at `final_uri` (first writer wins).

    On an exception nothing is published and the staging directory is removed.
    """
    if is_local(final_uri):
        with _publish_local_directory(_local(final_uri)) as staging:
            yield staging
        return
    staging = _new_node_cache_dir("publish")
    try:
        yield staging
        if _upload_directory(staging, final_uri):
            _keep_in_node_cache(staging, final_uri)  # this node needs no download of its own work
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def fetch_directory(uri: str) -> Path:
    """A local path holding the published directory at `uri`.

    Local: the directory itself. Remote: a node-local copy, downloaded on the first call on this
    node and reused afterwards without contacting the store (published directories never change).
    Raises FileNotFoundError when `uri` is not a complete published directory.
    """
    if is_local(uri):
        path = _local(uri)
        if not (path / COMPLETE_MARKER).exists():
            raise FileNotFoundError(_not_published(uri))
        return path
    cached = _node_cache_entry(uri)
    if cached.is_dir():
        return cached
    staging = _new_node_cache_dir("fetch")
    try:
        _download_directory(uri, staging)
        _keep_in_node_cache(staging, uri)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return cached


def fetch_member(member_uri: str) -> Path:
    """Local path of a file or folder directly inside a published directory (row columns such as
    ``analysis_uri`` and ``atlas_uri`` name one); fetches the directory as `fetch_directory`."""
    split = os.path.split if is_local(member_uri) else posixpath.split
    directory, name = split(member_uri.rstrip("/"))
    return fetch_directory(directory) / name


@contextlib.contextmanager
def publish_file(final_uri: str) -> Iterator[str]:
    """Yield a local staging path (with `final_uri`'s extension, so numpy and PyAV pick the
    format) to write; on success it replaces `final_uri` (local: ``os.replace``; remote: upload).
    On an exception nothing appears at `final_uri`."""
    suffix = posixpath.splitext(final_uri.rstrip("/").rsplit("/", 1)[-1])[1]
    with atomic_output(final_uri, suffix=suffix) as staging:
        yield staging


# --- local roots --------------------------------------------------------------------------------


def _local(uri: str) -> Path:
    protocol, path = split_protocol(uri)
    return Path(path if protocol else uri)


@contextlib.contextmanager
def _publish_local_directory(final: Path) -> Iterator[Path]:
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        yield staging
        (staging / COMPLETE_MARKER).write_text("ok\n")
        try:
            os.rename(staging, final)
        except OSError:
            if not (final / COMPLETE_MARKER).exists():
                shutil.rmtree(final, ignore_errors=True)  # left behind by a crashed writer
                os.rename(staging, final)
            else:
                log.info("another worker published %s first; keeping theirs", final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --- remote roots -------------------------------------------------------------------------------


def _node_cache_root() -> Path:
    return Path(os.environ.get("LIPDUB_NODE_CACHE") or Path(tempfile.gettempdir()) / "lipdub-node-cache")


def _node_cache_entry(uri: str) -> Path:
    return _node_cache_root() / hashlib.sha256(uri.rstrip("/").encode()).hexdigest()[:20]


def _keep_in_node_cache(staging: Path, uri: str) -> None:
    """Rename a complete local copy of `uri` into the node cache (unless one is there already)."""
    try:
        os.rename(staging, _node_cache_entry(uri))
    except OSError:
        if not _node_cache_entry(uri).is_dir():
            raise
        log.debug("another process on this node cached %s first", uri)


def _new_node_cache_dir(purpose: str) -> Path:
    """A fresh staging directory on the node cache's disk (so it can be renamed into the cache)."""
    root = _node_cache_root()
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{purpose}-", dir=root))


def _not_published(uri: str) -> str:
    return f"{uri} is not a published work-store directory (no {COMPLETE_MARKER} marker): its publisher has not finished or failed"


def _upload_directory(staging: Path, final_uri: str) -> bool:
    """Upload `staging` as a new version of `final_uri`; False when another publisher won."""
    if is_complete(final_uri):
        log.info("another worker published %s first; keeping theirs", final_uri)
        return False
    fs = filesystem_for(final_uri)
    base = fs._strip_protocol(final_uri).rstrip("/")
    version = f"v-{uuid.uuid4().hex[:16]}"
    files = sorted(path for path in staging.rglob("*") if path.is_file())
    try:
        if files:
            fs.put([str(path) for path in files],
                   [f"{base}/{version}/{path.relative_to(staging).as_posix()}" for path in files])
        fs.pipe_file(f"{base}/{COMPLETE_MARKER}", version.encode(), mode="create")
    except FileExistsError:
        log.info("another worker published %s first; keeping theirs", final_uri)
        _remove_quietly(fs, f"{base}/{version}")
        return False
    except BaseException:
        _remove_quietly(fs, f"{base}/{version}")
        raise
    fs.invalidate_cache(base)
    log.debug("published %s (%s, %d files)", final_uri, version, len(files))
    return True


def _remove_quietly(fs, path: str) -> None:
    """Remove an upload nobody will read (never named by a marker); keep the original error."""
    try:
        if fs.exists(path):
            fs.rm(path, recursive=True)
    except OSError as error:
        log.warning("could not remove the unpublished upload %s: %s", path, error)


def _download_directory(uri: str, destination: Path) -> None:
    fs = filesystem_for(uri)
    base = fs._strip_protocol(uri).rstrip("/")
    try:
        version = fs.cat_file(f"{base}/{COMPLETE_MARKER}").decode().strip()
    except FileNotFoundError:
        raise FileNotFoundError(_not_published(uri)) from None
    if not _VERSION.fullmatch(version):
        raise ValueError(f"{uri}: unexpected {COMPLETE_MARKER} marker content {version[:40]!r}")
    prefix = f"{base}/{version}"
    fs.invalidate_cache(prefix)
    remote = sorted(fs.find(prefix))
    local = [destination / path[len(prefix) + 1:] for path in remote]
    for path in local:
        path.parent.mkdir(parents=True, exist_ok=True)
    if remote:
        fs.get(remote, [str(path) for path in local])
    log.debug("fetched %s (%s, %d files) to %s", uri, version, len(remote), destination)
