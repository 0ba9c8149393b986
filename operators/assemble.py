"""assemble: join an item's rendered segments, mux the dub track, write the output atomically.

Input: one item row whose segments were gathered (operators/gather.py): segment_uris.
Output columns: status ok, output_uri written, segment_uris; per-stage seconds summed.
Fan-out: 1 -> 1 (the N -> 1 join of segments happens in gather). The output appears at its final URI only when complete (temporary name, then a
move), so a crash or a failed segment never leaves a partial video there.
"""
from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from lipdub.fingerprint import OUTPUT_TAG_PREFIX
from lipdub.media.audio_io import iter_audio_chunks
from lipdub.media.language import iso639_2, language_name
from lipdub.media.mux import delivered_audio, mux_segments
from lipdub.media.probe import probe_audio
from lipdub.storage import atomic_output, local_path
from operators.base import Operator

log = logging.getLogger(__name__)

OUTPUT_AUDIO_RATE = 48_000


def merge_segment_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One item row from its segment rows: the first failure wins; render seconds add up."""
    failed = [row for row in rows if row.get("status") == "failed"]
    if failed:
        return dict(failed[0])
    rows = sorted(rows, key=lambda row: row["segment_index"])
    merged = dict(rows[0])
    for column in ("seconds_render", "cpu_seconds_render"):
        merged[column] = sum(row.get(column) or 0.0 for row in rows)
    merged["segment_uris"] = json.dumps([row["segment_uri"] for row in rows])
    for column in ("segment_index", "segment_start", "segment_stop", "segment_uri"):
        merged[column] = None
    expected = rows[0]["segment_count"]
    if len(rows) != expected:
        merged.update(status="failed", failed_stage="assemble", error=f"only {len(rows)} of {expected} render segments arrived")
    return merged


def audio_track_tags(row: dict[str, Any]) -> dict[str, str]:
    """The dub track's language (ISO 639-2, from the catalog's language) and a title."""
    language = row.get("language") or ""
    return {"language": iso639_2(language), "title": f"{language_name(language)} dub" if language else "dub"}


def output_tags(row: dict[str, Any]) -> dict[str, str]:
    """Container tags that let a later run recognise this output as finished (see run_state)."""
    fingerprint = row.get("output_fingerprint")
    return {"comment": f"{OUTPUT_TAG_PREFIX}{fingerprint}"} if fingerprint else {}


class AssembleOperator(Operator):
    name = "assemble"

    def process(self, row: dict[str, Any]) -> dict[str, Any]:
        with contextlib.ExitStack() as local_copies:  # inputs may live in a remote store
            audio_path = local_copies.enter_context(local_path(row["audio_uri"]))
            segments = [local_copies.enter_context(local_path(uri)) for uri in json.loads(row["segment_uris"])]
            # Streamed: the dub is decoded a few seconds at a time as the video is written, so a
            # film-length dub never sits in memory whole (2 h at 48 kHz would be ~1.4 GB).
            # The dub's own channels and rate (a 5.1 mix stays 5.1); the bitrate scales with channels.
            dub = probe_audio(audio_path)
            layout, rate = delivered_audio(dub.layout, dub.channels, dub.sample_rate, row["audio_uri"])
            audio = iter_audio_chunks(audio_path, sample_rate=rate, keep_channels=True)
            bitrate = self.config.encode.audio_bitrate * dub.channels
            with atomic_output(row["output_uri"], suffix=".mp4") as temporary:
                mux_segments(
                    segments, audio, rate, temporary, audio_bitrate=bitrate, metadata=output_tags(row),
                    audio_layout=layout, audio_metadata=audio_track_tags(row),
                )
        row["status"] = "ok"
        return row
