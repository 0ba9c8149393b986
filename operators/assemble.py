"""assemble: join an item's rendered segments, mux the dub track, write the output atomically.

Input: one item row whose segments were gathered (operators/gather.py): segment_uris.
Output columns: status ok, output_uri written, segment_uris; per-stage seconds summed.
The output's container follows output_uri's extension; the dub track is copied or encoded as
lipdub/media/delivery.py decides; the source's own audio (keep_original_audio), subtitles and
chapters (sync modes that keep the source's timing) follow it.
Fan-out: 1 -> 1 (the N -> 1 join of segments happens in gather). The output appears at its final URI only when complete (temporary name, then a
move), so a crash or a failed segment never leaves a partial video there.
"""
from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from lipdub.cancel_marker import raise_if_cancelled
from lipdub.fingerprint import OUTPUT_TAG_PREFIX
from lipdub.media.delivery import container_suffix
from lipdub.media.output_file import Delivery, SourceTracks, write_output
from lipdub.storage import atomic_output, local_path
from operators.base import Operator

log = logging.getLogger(__name__)


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


def output_tags(row: dict[str, Any]) -> dict[str, str]:
    """Container tags that let a later run recognise this output as finished (see run_state)."""
    fingerprint = row.get("output_fingerprint")
    return {"comment": f"{OUTPUT_TAG_PREFIX}{fingerprint}"} if fingerprint else {}


def delivers_whole_dub(row: dict[str, Any]) -> bool:
    """Whether the output's timeline covers the whole dub (it then ends at the dub's last sample,
    the picture within a frame of it): every mode but ``silence`` and a dub cut by a shorter video."""
    fps = row["fps_num"] / row["fps_den"]
    return row.get("resolved_sync_mode") != "silence" and int(row["n_output_frames"]) == max(1, int(round(row["dub_seconds"] * fps)))


def keeps_source_timing(row: dict[str, Any]) -> bool:
    """Output frame i is source frame i: the source's subtitles and chapters still fit."""
    return row.get("resolved_sync_mode") in ("cut_off", "silence")


class AssembleOperator(Operator):
    name = "assemble"

    def process(self, row: dict[str, Any]) -> dict[str, Any]:
        suffix = container_suffix(row["output_uri"])
        source_format = json.loads(row.get("source_format") or "{}")
        encode = self.config.encode
        delivery = Delivery(audio_mode=encode.audio, audio_bitrate=encode.audio_bitrate, keep_original_audio=encode.keep_original_audio)
        # The source is fetched again only when the output takes more than its picture from it.
        passes_through = keeps_source_timing(row) and (source_format.get("subtitles") or source_format.get("chapters"))
        needs_source = bool(encode.keep_original_audio or passes_through)
        with contextlib.ExitStack() as local_copies:  # inputs may live in a remote store
            audio_path = local_copies.enter_context(local_path(row["audio_uri"]))
            segments = [local_copies.enter_context(local_path(uri)) for uri in json.loads(row["segment_uris"])]
            source = None
            if needs_source:
                source = SourceTracks(local_copies.enter_context(local_path(row["video_uri"])), source_format,
                                      keeps_source_timing(row), row["video_uri"])
            with atomic_output(row["output_uri"], suffix=suffix) as temporary:
                write_output(segments, audio_path, temporary, language=row.get("language"), whole_dub=delivers_whole_dub(row),
                             delivery=delivery, source=source, video_seconds=row["n_output_frames"] * row["fps_den"] / row["fps_num"],
                             container_tags=output_tags(row), label=row["item_id"], dub_uri=row["audio_uri"])
                raise_if_cancelled(row)  # cancelled while writing: the output is dropped, never published
        row["status"] = "ok"
        return row
