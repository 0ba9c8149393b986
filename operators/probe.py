"""probe: open both inputs, validate them, fingerprint the source and plan the output timeline.

Input columns: item_id, video_uri, audio_uri, output_uri, sync_mode.
Output columns: width, height, rotation, fps_num, fps_den, n_source_frames, source_seconds,
dub_seconds, resolved_sync_mode, n_output_frames, source_fingerprint, work_dir.
Fan-out: 1 -> 1. Bad input -> a failed row naming the problem.
"""
from __future__ import annotations

from typing import Any

from lipdub.errors import InputError
from lipdub.fingerprint import uri_sha256
from lipdub.item_row import safe_name
from lipdub.media.mux import delivered_audio
from lipdub.media.probe import probe_audio, probe_video
from lipdub.storage import join_uri, local_path
from lipdub.timeline import plan_timeline
from operators.base import Operator


class ProbeOperator(Operator):
    name = "probe"
    # The source's content fingerprint keys its cached analysis; it reads the whole video.
    fingerprint_source = True

    def process(self, row: dict[str, Any]) -> dict[str, Any]:
        for column in ("item_id", "video_uri", "audio_uri", "output_uri"):
            if not row.get(column):
                raise InputError(f"item has no {column}")
        with local_path(row["video_uri"]) as video_path:
            video = probe_video(video_path)
        with local_path(row["audio_uri"]) as audio_path:
            dub = probe_audio(audio_path)
        # A dub the output cannot carry as delivered (its channel layout) fails now, before any work.
        delivered_audio(dub.layout, dub.channels, dub.sample_rate, row["audio_uri"])
        timeline = plan_timeline(video.n_frames, float(video.fps), dub.duration_s, row.get("sync_mode"))
        fingerprint = uri_sha256(row["video_uri"]) if self.fingerprint_source else None
        row.update(
            width=video.width,
            height=video.height,
            rotation=video.rotation,
            fps_num=video.fps.numerator,
            fps_den=video.fps.denominator,
            n_source_frames=video.n_frames,
            source_seconds=video.duration_s,
            dub_seconds=dub.duration_s,
            resolved_sync_mode=timeline.sync_mode,
            n_output_frames=timeline.n_frames,
            source_fingerprint=fingerprint,
            work_dir=join_uri(self.config.work_root, "items", safe_name(row["item_id"])),
        )
        return row


class InputCheck(ProbeOperator):
    """The probe's checks alone, without the fingerprint: cheap enough for a driver to refuse bad
    input in about a second, before Ray starts (`lipdub dub`), with the probe's own words."""

    fingerprint_source = False
