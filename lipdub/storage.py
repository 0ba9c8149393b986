"""Read inputs from and write outputs to local paths or any fsspec URI (file://, memory://, s3://).

Why: catalogs live on object storage but PyAV needs local files, and a crashed or retried Ray
task must never leave a half-written output where a reader (or the job's "already done?"
check) would take it for a finished one. Hence `local_path` (download to a temp file) and
`atomic_output` (write locally, publish in one step).

Filesystem options (credentials, custom endpoints), lowest to highest precedence:

1. Standard environment of the backend: for s3:// that is botocore's ``AWS_ACCESS_KEY_ID``,
   ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_DEFAULT_REGION``, ``AWS_PROFILE``,
   ``AWS_ENDPOINT_URL`` ...
2. ``LIPDUB_S3_ENDPOINT_URL``: endpoint for s3:// URIs (MinIO, Ceph, moto, ...).
3. `configure_filesystem(protocol, **options)`: process-wide options per protocol, e.g.
   ``configure_filesystem("s3", key=..., secret=..., endpoint_url=...)``.
4. ``**storage_options`` passed to `filesystem_for`.

Environment variables are the way to configure Ray workers (set them in the job's
``runtime_env``): `configure_filesystem` only affects the process that calls it.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from typing import IO, Any, Iterator

import fsspec
from fsspec.core import split_protocol, url_to_fs

from lipdub.errors import MissingInputError

log = logging.getLogger(__name__)

__all__ = [
    "atomic_output",
    "configure_filesystem",
    "filesystem_for",
    "is_local",
    "join_uri",
    "local_path",
    "open_uri",
    "uri_exists",
]

_LOCAL_PROTOCOLS = frozenset({None, "file", "local"})
#: Object stores where a single put is already atomic (object appears complete or not at all).
_ATOMIC_PUT_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"})

_configured: dict[str, dict[str, Any]] = {}


def configure_filesystem(protocol: str, **options: Any) -> None:
    """Set default fsspec options for `protocol` in this process (replaces earlier ones).

    Call with no options to reset. Example for an S3-compatible server::

        configure_filesystem("s3", key="k", secret="s", endpoint_url="http://127.0.0.1:9000")
    """
    protocol = protocol.lower()
    if options:
        _configured[protocol] = dict(options)
    else:
        _configured.pop(protocol, None)


def _protocol(uri: str) -> str | None:
    protocol, _ = split_protocol(uri)
    return protocol.lower() if protocol else None


def is_local(uri: str | os.PathLike[str]) -> bool:
    """True for plain paths and file:// URIs."""
    return _protocol(os.fspath(uri)) in _LOCAL_PROTOCOLS


def _local(uri: str) -> str:
    """Plain local path of a local uri (strips file://)."""
    protocol, path = split_protocol(uri)
    return path if protocol else uri


def _options_for(protocol: str | None, overrides: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if protocol in ("s3", "s3a"):
        endpoint = os.environ.get("LIPDUB_S3_ENDPOINT_URL")
        if endpoint:
            options["endpoint_url"] = endpoint
    if protocol:
        options.update(_configured.get(protocol, {}))
    options.update(overrides)
    return options


def _fs_and_path(uri: str, **storage_options: Any) -> tuple[fsspec.AbstractFileSystem, str]:
    options = _options_for(_protocol(uri), storage_options)
    return url_to_fs(uri, **options)


def filesystem_for(uri: str, **storage_options: Any) -> fsspec.AbstractFileSystem:
    """The fsspec filesystem serving `uri` with the configured options (instances are cached
    by fsspec, so this is cheap to call per file)."""
    return _fs_and_path(os.fspath(uri), **storage_options)[0]


def open_uri(uri: str, mode: str = "rb") -> IO[Any]:
    """Open `uri` (path or any fsspec URI) like `open()`; use as a context manager."""
    fs, path = _fs_and_path(os.fspath(uri))
    return fs.open(path, mode)


def uri_exists(uri: str) -> bool:
    """Whether `uri` exists now (listing caches are dropped first: another worker may have
    just written it)."""
    fs, path = _fs_and_path(os.fspath(uri))
    fs.invalidate_cache(path)
    return bool(fs.exists(path))


def join_uri(root: str, *parts: str) -> str:
    """Join path parts onto a local path or URI (URIs always use '/')."""
    root = os.fspath(root)
    clean = [p.strip("/") for p in parts if p and p.strip("/")]
    if _protocol(root) is None:
        return os.path.join(root, *clean)
    if not clean:
        return root
    return root.rstrip("/") + "/" + "/".join(clean)


def _suffix_of(uri: str) -> str:
    name = uri.rstrip("/").rsplit("/", 1)[-1]
    return os.path.splitext(name)[1]


@contextmanager
def local_path(uri: str) -> Iterator[str]:
    """A local path to read `uri` from: local paths as they are, remote ones downloaded to a
    temp file (keeping the extension, which PyAV uses to pick a demuxer) removed on exit."""
    uri = os.fspath(uri)
    if is_local(uri):
        yield _local(uri)
        return
    fs, path = _fs_and_path(uri)
    tmpdir = tempfile.mkdtemp(prefix="lipdub-in-")
    try:
        local = os.path.join(tmpdir, "input" + _suffix_of(uri))
        log.debug("downloading %s to %s", uri, local)
        try:
            fs.get_file(path, local)
        except FileNotFoundError:
            raise MissingInputError(uri) from None  # the same words as for a missing local file
        yield local
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


@contextmanager
def atomic_output(uri: str, suffix: str) -> Iterator[str]:
    """Yield a local temp path (ending in `suffix`) to write; publish it to `uri` on success.

    Local: the temp file is in the destination directory and `os.replace`d (atomic rename).
    Object stores (s3, gs, az, memory): one direct put, which is atomic there. Other remote
    filesystems: upload to ``uri + ".partial-<random>"`` then move. On an exception nothing
    appears at `uri` and the temps are removed; an existing file at `uri` is left untouched.
    The temp file exists (empty) when yielded; whatever it holds on exit is published, and
    deleting it inside the block is an error (FileNotFoundError).
    """
    uri = os.fspath(uri)
    if is_local(uri):
        with _atomic_local(_local(uri), suffix) as tmp:
            yield tmp
        return
    fs, path = _fs_and_path(uri)
    tmpdir = tempfile.mkdtemp(prefix="lipdub-out-")
    try:
        tmp = os.path.join(tmpdir, "output" + suffix)
        open(tmp, "wb").close()  # like the local branch: the path exists from the start
        yield tmp
        if not os.path.exists(tmp):
            raise FileNotFoundError(f"nothing was written for {uri}")
        _publish_remote(fs, tmp, path, _protocol(uri))
        log.debug("published %s", uri)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def _atomic_local(final: str, suffix: str) -> Iterator[str]:
    parent = os.path.dirname(os.path.abspath(final))
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{os.path.basename(final)}.partial-",
                               suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        if not os.path.exists(tmp):
            raise FileNotFoundError(f"nothing was written for {final}")
        # mkstemp makes 0600 files; outputs get the permissions any new file would (umask).
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, final)
    except BaseException:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise


def _publish_remote(fs: fsspec.AbstractFileSystem, tmp: str, path: str, protocol: str | None) -> None:
    if protocol in _ATOMIC_PUT_PROTOCOLS:
        fs.put_file(tmp, path)
        fs.invalidate_cache(path)
        return
    partial = f"{path}.partial-{uuid.uuid4().hex[:12]}"
    try:
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        if parent:
            fs.makedirs(parent, exist_ok=True)
        fs.put_file(tmp, partial)
        fs.mv(partial, path)
    except BaseException:
        try:
            if fs.exists(partial):
                fs.rm(partial)
        except OSError as exc:  # keep the original error; the partial name is unambiguous
            log.warning("could not remove %s: %s", partial, exc)
        raise
    fs.invalidate_cache(path)
