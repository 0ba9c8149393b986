"""The API's job records: one JSON document per dub or batch, on any fsspec URI.

Records live outside the Serve replicas (``<state_root>/requests/<id>.json``), so a replica that
restarts, or a second replica, sees every request; the runner that executes them reads the same
store. Each write replaces the whole document atomically (`lipdub.storage.atomic_output`).

Idempotency keys (``<state_root>/idempotency/<token id>-<key hash>.json``) are created with an
exclusive create (atomic on S3 and on local disks), so two retries of one POST racing each other
still get one id.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import tempfile
import uuid
from typing import Any, Iterator

from lipdub.api.errors import ApiError
from lipdub.storage import atomic_output, filesystem_for, is_local, join_uri

log = logging.getLogger(__name__)

_ID = re.compile(r"^(dub|batch)_\d{8}T\d{12}_[0-9a-f]{8}$")


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def new_id(kind: str) -> str:
    """``dub_20261126T140501123456_1a2b3c4d``: sorts by creation time, unique without coordination."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    return f"{kind}_{stamp}_{uuid.uuid4().hex[:8]}"


def is_record_id(value: str, kind: str | None = None) -> bool:
    match = _ID.fullmatch(value)
    return bool(match) and (kind is None or match.group(1) == kind)


class RecordStore:
    """Dub and batch records plus idempotency keys under ``root``."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self.fs = filesystem_for(self.root)
        self._requests = join_uri(self.root, "requests")
        self._keys = join_uri(self.root, "idempotency")

    def _record_uri(self, record_id: str) -> str:
        if not is_record_id(record_id):
            raise ValueError(f"not a record id: {record_id!r}")
        return join_uri(self._requests, f"{record_id}.json")

    def put(self, record: dict[str, Any]) -> None:
        record["updated_at"] = utc_now()
        uri = self._record_uri(record["id"])
        with atomic_output(uri, suffix=".json") as temporary, open(temporary, "w") as handle:
            json.dump(record, handle, sort_keys=True, allow_nan=False)

    def get(self, record_id: str) -> dict[str, Any] | None:
        """The record, or None when there is none (also for strings that are no record id)."""
        if not is_record_id(record_id):
            return None
        path = self.fs._strip_protocol(self._record_uri(record_id))
        try:
            self.fs.invalidate_cache(path)
            return json.loads(self.fs.cat_file(path))
        except FileNotFoundError:
            return None

    def update(self, record_id: str, **changes: Any) -> dict[str, Any]:
        record = self.get(record_id)
        if record is None:
            raise KeyError(record_id)
        record.update(changes)
        self.put(record)
        return record

    def ids(self, kind: str | None = None, *, newest_first: bool = True) -> list[str]:
        """Record ids (time-ordered by construction), optionally of one kind."""
        path = self.fs._strip_protocol(self._requests)
        self.fs.invalidate_cache(path)
        try:
            names = [entry.rsplit("/", 1)[-1] for entry in self.fs.ls(path, detail=False)]
        except FileNotFoundError:
            return []
        found = [name[:-5] for name in names if name.endswith(".json") and is_record_id(name[:-5], kind)]
        return sorted(found, key=lambda record_id: record_id.split("_", 1)[1], reverse=newest_first)

    def records(self, kind: str | None = None, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
        for record_id in self.ids(kind)[:limit]:
            record = self.get(record_id)
            if record is not None:
                yield record

    def claim_idempotency_key(self, scope: str, key: str, body_sha256: str, record_id: str) -> str:
        """The record id this key stands for: ``record_id`` if the key is new, else the first
        request's id. The same key with another body is a 409 (a client bug, not a retry)."""
        name = hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()[:32]
        path = self.fs._strip_protocol(join_uri(self._keys, f"{name}.json"))
        claim = json.dumps({"id": record_id, "body_sha256": body_sha256, "created_at": utc_now()}).encode()
        if self._create_exclusive(path, claim):
            return record_id
        self.fs.invalidate_cache(path)
        earlier = json.loads(self.fs.cat_file(path))
        if earlier["body_sha256"] != body_sha256:
            raise ApiError(409, "idempotency_key_reused", "this Idempotency-Key was used before with a different request body; use a new key for a new request")
        return earlier["id"]

    def _create_exclusive(self, path: str, data: bytes) -> bool:
        """Create ``path`` holding ``data`` unless it exists; readers never see it half-written.

        fsspec's local ``mode="create"`` checks, then opens: two racers can both win. Locally a
        hard link of a finished temporary file is the atomic step; S3 does If-None-Match.
        """
        if not is_local(self.root):
            try:
                self.fs.pipe_file(path, data, mode="create")
                return True
            except FileExistsError:
                return False
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".claim-")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            os.link(temporary, path)
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(temporary)
