"""Catalog manifests: what a catalog run dubs, read and validated before any work starts.

A catalog is Parquet (one file, or every ``*.parquet`` under a prefix) or, for convenience, a CSV
file, with one row per dub:

    item_id, video_uri, audio_uri, language                   required
    output_uri, sync_mode, speaker_point, transcript,         optional
    video_codec (h264, h265, prores: this row's output format)

Two kinds of problem, two outcomes:

- the catalog itself is unusable (a required column missing, duplicate or empty item_ids, an
  unreadable file): `CatalogError` before anything runs, with a message naming what to fix;
- one row is bad (no video, an unknown sync mode, a malformed speaker point, no output URI):
  that row becomes a failed item with ``failed_stage="catalog"``, the rest of the catalog runs.

Relative URIs in a catalog are resolved against the catalog's own folder, so a catalog can sit
beside its media in a bucket.
"""
from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lipdub.errors import InputError
from lipdub.item_row import CATALOG_COLUMNS, OPTIONAL_CATALOG_COLUMNS, empty_row, safe_name
from lipdub.media.delivery import VIDEO_CODECS, container_suffix
from lipdub.storage import filesystem_for, is_local, join_uri
from lipdub.timeline import SYNC_MODES

log = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SPEAKER_POINT = re.compile(r"^\s*-?\d+(\.\d+)?\s*,\s*-?\d+(\.\d+)?\s*$")


class CatalogError(ValueError):
    """The catalog as a whole cannot be run; the message says what to fix."""


@dataclass(frozen=True)
class Catalog:
    uri: str
    rows: list[dict[str, Any]]  # ROW_SCHEMA rows: pending, or failed at the "catalog" stage

    def __len__(self) -> int:
        return len(self.rows)


def _catalog_files(uri: str) -> tuple[Any, list[str], str]:
    """(filesystem, data files, folder that relative URIs are resolved against)."""
    fs = filesystem_for(uri)
    path = fs._strip_protocol(uri)
    if not fs.exists(path):
        raise CatalogError(f"catalog {uri} does not exist")
    if fs.isdir(path):
        files = sorted(p for p in fs.find(path) if p.endswith((".parquet", ".csv")) and not _hidden(p, path))
        if not files:
            raise CatalogError(f"catalog folder {uri} holds no .parquet or .csv files")
        return fs, files, uri
    parent = uri.rstrip("/").rsplit("/", 1)[0] if "/" in uri.rstrip("/") else "."
    return fs, [path], parent


def _hidden(file: str, root: str) -> bool:
    relative = file[len(root.rstrip("/")) + 1 :]
    return any(part.startswith(("_", ".")) for part in relative.split("/"))


def _read_table(fs: Any, path: str) -> pa.Table:
    try:
        with fs.open(path, "rb") as handle:
            if path.endswith(".csv"):
                return _read_csv(handle.read().decode("utf-8-sig"))
            return pq.read_table(handle)
    except (pa.ArrowInvalid, OSError, ValueError, csv.Error) as error:
        raise CatalogError(f"cannot read catalog file {path}: {' '.join(str(error).split())[:300]}") from error


def _read_csv(text: str) -> pa.Table:
    # Every column as text: ids like "007" must not become numbers.
    lines = list(csv.reader(io.StringIO(text)))
    if not lines:
        return pa.table({})
    names = [name.strip() for name in lines[0]]
    records = [line for line in lines[1:] if any(cell.strip() for cell in line)]
    columns = {name: [record[i] if i < len(record) else None for record in records] for i, name in enumerate(names)}
    return pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})


def _as_strings(table: pa.Table) -> list[dict[str, Any]]:
    columns = [name for name in table.column_names if name in CATALOG_COLUMNS + OPTIONAL_CATALOG_COLUMNS]
    out = table.select(columns)
    rows = out.to_pylist()
    for row in rows:
        for key, value in row.items():
            row[key] = None if value is None else str(value).strip() or None
    return rows


def read_catalog(uri: str, output_root: str | None = None) -> Catalog:
    """Read and validate the catalog at ``uri``; raise `CatalogError` if it cannot run at all."""
    fs, files, base = _catalog_files(uri)
    tables = [_read_table(fs, path) for path in files]
    rows: list[dict[str, Any]] = []
    for path, table in zip(files, tables):
        missing = [name for name in CATALOG_COLUMNS if name not in table.column_names]
        if missing:
            raise CatalogError(
                f"catalog file {path} lacks required column(s) {', '.join(missing)}; "
                f"it has {', '.join(table.column_names) or 'no columns'}; required: {', '.join(CATALOG_COLUMNS)}"
            )
        extra = sorted(set(table.column_names) - set(CATALOG_COLUMNS + OPTIONAL_CATALOG_COLUMNS))
        if extra:
            log.info("catalog file %s: ignoring extra column(s) %s", path, ", ".join(extra))
        rows.extend(_as_strings(table))
    _check_item_ids(rows)
    return Catalog(uri=uri, rows=[catalog_item_row(row, base, output_root) for row in rows])


def _check_item_ids(rows: list[dict[str, Any]]) -> None:
    empty = [index for index, row in enumerate(rows) if not row.get("item_id")]
    if empty:
        shown = ", ".join(str(i) for i in empty[:10])
        raise CatalogError(f"{len(empty)} catalog row(s) have no item_id (rows {shown}); every row needs a unique item_id")
    seen: dict[str, int] = {}
    for row in rows:
        seen[row["item_id"]] = seen.get(row["item_id"], 0) + 1
    duplicates = sorted(item for item, count in seen.items() if count > 1)
    if duplicates:
        shown = ", ".join(repr(item) for item in duplicates[:10])
        raise CatalogError(f"duplicate item_id(s) in the catalog: {shown}{' ...' if len(duplicates) > 10 else ''}; item_ids must be unique")


def resolve_uri(value: str, base: str) -> str:
    """A catalog URI: absolute paths and URIs as they are, relative ones against the catalog's folder."""
    if "://" in value or value.startswith("/") or not base:
        return value
    if is_local(base):
        return join_uri(base.removeprefix("file://"), value)
    return join_uri(base, value)


def output_name(item_id: str) -> str:
    """A file name for an item's output: the item_id itself when that is a safe file name."""
    if _SAFE_ID.match(item_id) and len(item_id) <= 120:
        return item_id
    return safe_name(item_id)


def catalog_item_row(raw: dict[str, Any], base: str, output_root: str | None) -> dict[str, Any]:
    """A pipeline row for one catalog entry: URIs resolved, or ``failed`` at the catalog stage."""
    row = empty_row(**raw)
    problems = []
    for column in ("video_uri", "audio_uri"):
        if row.get(column):
            row[column] = resolve_uri(row[column], base)
        else:
            problems.append(f"no {column}")
    if not row.get("language"):
        problems.append("no language")
    if row.get("sync_mode") and row["sync_mode"] not in SYNC_MODES + ("auto",):
        problems.append(f"unknown sync_mode {row['sync_mode']!r} (use one of {', '.join(SYNC_MODES)}, or leave it empty)")
    if row.get("speaker_point") and not _SPEAKER_POINT.match(row["speaker_point"]):
        problems.append(f"speaker_point must be X,Y in pixels, got {row['speaker_point']!r}")
    if row.get("video_codec") and row["video_codec"] not in VIDEO_CODECS:
        problems.append(f"unknown video_codec {row['video_codec']!r} (use one of {', '.join(VIDEO_CODECS)}, or leave it empty)")
    if row.get("output_uri"):
        row["output_uri"] = resolve_uri(row["output_uri"], base)
    elif output_root:
        suffix = ".mov" if row.get("video_codec") == "prores" else ".mp4"  # ProRes is delivered in MOV
        row["output_uri"] = join_uri(output_root, row.get("language") or "und", f"{output_name(row['item_id'])}{suffix}")
    else:
        problems.append("no output_uri in the catalog and no --output-root given")
    if row.get("output_uri"):
        try:
            container_suffix(row["output_uri"])
        except InputError as error:
            problems.append(str(error))
    if problems:
        row.update(status="failed", failed_stage="catalog", error="bad catalog row: " + "; ".join(problems))
    return row


def write_catalog(rows: list[dict[str, Any]], uri: str) -> None:
    """Write catalog rows (dicts with the catalog columns) as one Parquet file."""
    from lipdub.storage import atomic_output

    names = [c for c in CATALOG_COLUMNS + OPTIONAL_CATALOG_COLUMNS if any(c in row for row in rows)]
    table = pa.table({name: pa.array([row.get(name) for row in rows], pa.string()) for name in names})
    with atomic_output(uri, suffix=".parquet") as temporary:
        pq.write_table(table, temporary)
