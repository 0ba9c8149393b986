"""Content fingerprints: what makes analyses cacheable and reruns resumable."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from lipdub.storage import open_uri

_CHUNK = 4 * 1024 * 1024
#: Outputs carry their item fingerprint in a container tag ("comment") after this prefix.
OUTPUT_TAG_PREFIX = "lipdub output_fingerprint="


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


def input_stamp(uri: str) -> str:
    """A cheap "has this file changed?" stamp from its metadata: the object's ETag where the
    store gives one (S3), else size and modification time. No bytes are read, so a nightly run
    can check thousands of titles quickly; the analysis cache still keys on content."""
    from lipdub.errors import MissingInputError
    from lipdub.storage import filesystem_for

    fs = filesystem_for(uri)
    path = fs._strip_protocol(uri)
    fs.invalidate_cache(path)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise MissingInputError(uri) from None
    etag = info.get("ETag") or info.get("etag")
    if etag:
        return f"etag:{str(etag).strip(chr(34))}:{info.get('size')}"
    modified = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or info.get("created")
    return f"size:{info.get('size')}:mtime:{modified}"
