"""Content fingerprints: what makes analyses cacheable and reruns resumable."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from lipdub.storage import open_uri

_CHUNK = 4 * 1024 * 1024


def uri_sha256(uri: str) -> str:
    """SHA-256 of a file's bytes, streamed (any fsspec URI)."""
    digest = hashlib.sha256()
    with open_uri(uri, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def combine(*parts: Any) -> str:
    """A short stable key for a combination of fingerprints and settings."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]
