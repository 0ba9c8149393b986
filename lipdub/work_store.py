"""The work store: per-source cached analyses and per-item artifacts.

Cached analyses live under ``<work_root>/analysis/<key>/`` and are published atomically: a
directory is built under a temporary name and renamed into place, with a ``COMPLETE`` marker
written last, so a crash never leaves a half-written cache entry that later runs would trust.
The work store is a local (or locally mounted shared) path; inputs and outputs may be any fsspec URI.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

COMPLETE_MARKER = "COMPLETE"


def local_work_path(uri: str) -> Path:
    if "://" in uri and not uri.startswith("file://"):
        raise ValueError(f"the work store must be a local or mounted path for now, got {uri}")
    return Path(uri.removeprefix("file://"))


def analysis_dir(work_root: str, key: str) -> Path:
    return local_work_path(work_root) / "analysis" / key


def is_complete(directory: Path) -> bool:
    return (directory / COMPLETE_MARKER).exists()


@contextlib.contextmanager
def publish_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary directory; on success rename it to ``final`` (first writer wins)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        yield staging
        (staging / COMPLETE_MARKER).write_text("ok\n")
        try:
            os.rename(staging, final)
        except OSError:
            if not is_complete(final):
                shutil.rmtree(final, ignore_errors=True)
                os.rename(staging, final)
            else:
                log.info("another worker published %s first; keeping theirs", final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
