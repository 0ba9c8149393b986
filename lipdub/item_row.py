"""The one row schema every pipeline stage reads and writes.

Rows are flat and Arrow-friendly: heavy artifacts (landmarks, atlas crops, segment files) live in
the work store and rows carry their URIs. Every stage returns tables with exactly this schema, so
blocks from different stages and failed items always concatenate.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable

import pyarrow as pa

STAGES: tuple[str, ...] = ("probe", "analyze", "listen", "move", "segment", "render", "assemble", "qa")

_FIELDS: list[tuple[str, pa.DataType]] = [
    # Catalog (input) columns.
    ("item_id", pa.string()),
    ("video_uri", pa.string()),
    ("audio_uri", pa.string()),
    ("language", pa.string()),
    ("output_uri", pa.string()),
    ("sync_mode", pa.string()),
    ("speaker_point", pa.string()),  # "x,y" in source pixels, or null for automatic
    ("transcript", pa.string()),
    # Evaluation only: .npy of known [opening, width] per output frame (the oracle motion).
    ("motion_targets_uri", pa.string()),
    ("motion_checkpoint", pa.string()),  # per-item learned model (evaluation); else the config's
    ("video_codec", pa.string()),  # per-item output codec (h264, h265, prores); else the config's
    # Outcome.
    ("status", pa.string()),  # pending | ok | failed | skipped
    ("error", pa.string()),
    ("failed_stage", pa.string()),
    # Probe.
    ("work_dir", pa.string()),
    ("source_fingerprint", pa.string()),
    ("output_fingerprint", pa.string()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("rotation", pa.int32()),
    ("fps_num", pa.int64()),
    ("fps_den", pa.int64()),
    ("n_source_frames", pa.int64()),
    ("source_seconds", pa.float64()),
    ("dub_seconds", pa.float64()),
    ("resolved_sync_mode", pa.string()),
    ("n_output_frames", pa.int64()),
    # The source's picture format, colour tags, own audio, subtitles and chapters (JSON; see
    # operators/probe.py): what the render and assemble keep.
    ("source_format", pa.string()),
    # Artifacts in the work store.
    ("analysis_uri", pa.string()),
    ("atlas_uri", pa.string()),
    ("source_speech_uri", pa.string()),
    ("dub_speech_uri", pa.string()),
    ("plan_uri", pa.string()),
    ("analysis_cached", pa.bool_()),
    # Render segments (one row per segment between segment and assemble).
    ("segment_index", pa.int32()),
    ("segment_count", pa.int32()),
    ("segment_start", pa.int64()),
    ("segment_stop", pa.int64()),
    ("segment_uri", pa.string()),
    ("segment_uris", pa.string()),  # JSON list, after assemble
    # Figures.
    ("edited_frames", pa.int64()),
    ("speaker_found_share", pa.float64()),
    ("n_faces", pa.int32()),
] + [(f"seconds_{stage}", pa.float64()) for stage in STAGES] + [
    # CPU seconds of the process that ran the stage (all its threads: encoder, Face Mesh), beside
    # the wall seconds above: on a CPU-bound machine it is the work to cut, not the waiting.
    (f"cpu_seconds_{stage}", pa.float64()) for stage in STAGES
] + [
    # QA (see lipdub/qa): the gate's main figures as columns (sortable, queryable), all of them
    # as JSON in qa_figures, and the details (series, thumbnails) for `lipdub report` at qa_uri.
    ("qa_av_offset_frames", pa.float64()),
    ("qa_sync_corr", pa.float64()),
    ("qa_outside_psnr_db", pa.float64()),
    ("qa_seam_score", pa.float64()),
    ("qa_flicker_ratio", pa.float64()),
    ("qa_jitter_ratio", pa.float64()),
    ("qa_edited_share", pa.float64()),
    ("qa_source_av_offset_frames", pa.float64()),
    ("qa_source_sync_corr", pa.float64()),
    ("qa_figures", pa.string()),
    ("qa_uri", pa.string()),
    ("needs_review", pa.bool_()),
    ("review_reasons", pa.string()),
    # Where each stage ran: JSON {stage: [Ray node id prefixes]} (debugging and placement checks).
    ("placements", pa.string()),
    # Catalog runs: when the item's result was recorded (UTC, ISO 8601).
    ("finished_at", pa.string()),
]

ROW_SCHEMA = pa.schema(_FIELDS)
COLUMNS: tuple[str, ...] = tuple(ROW_SCHEMA.names)
CATALOG_COLUMNS: tuple[str, ...] = ("item_id", "video_uri", "audio_uri", "language")
OPTIONAL_CATALOG_COLUMNS: tuple[str, ...] = ("output_uri", "sync_mode", "speaker_point", "transcript", "video_codec")


def record_placement(placements: str | None, stage: str, node: str) -> str:
    """``placements`` JSON with ``node`` added under ``stage``."""
    mapping: dict[str, list[str]] = json.loads(placements) if placements else {}
    nodes = mapping.setdefault(stage, [])
    if node not in nodes:
        nodes.append(node)
    return json.dumps(mapping, sort_keys=True)


def merge_placements(values: Iterable[str | None]) -> str | None:
    """One ``placements`` JSON from several rows' (an item's render segments)."""
    merged: str | None = None
    for value in values:
        for stage, nodes in (json.loads(value) if value else {}).items():
            for node in nodes:
                merged = record_placement(merged, stage, node)
    return merged


def empty_row(**values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {name: None for name in COLUMNS}
    row["status"] = "pending"
    unknown = set(values) - set(COLUMNS)
    if unknown:
        raise KeyError(f"unknown row columns: {sorted(unknown)}")
    row.update(values)
    return row


def rows_to_table(rows: Iterable[dict[str, Any]]) -> pa.Table:
    """Rows (missing columns become null, extra keys are an error) -> a table with ROW_SCHEMA."""
    full = []
    for row in rows:
        extra = set(row) - set(COLUMNS)
        if extra:
            raise KeyError(f"unknown row columns: {sorted(extra)}")
        full.append({name: row.get(name) for name in COLUMNS})
    return pa.Table.from_pylist(full, schema=ROW_SCHEMA)


def safe_name(text: str) -> str:
    """A filesystem-safe, still readable and unique name for an item id (its work folder, and
    its output file when the id itself is not a safe name)."""
    keep = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in text)
    return f"{keep.strip('._')[:60] or 'item'}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"
