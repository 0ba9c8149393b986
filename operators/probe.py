"""probe: open both inputs, validate them, fingerprint the source and plan the output timeline.

Input columns: item_id, video_uri, audio_uri, output_uri, sync_mode.
Output columns: width, height, rotation, fps_num, fps_den, n_source_frames, source_seconds,
dub_seconds, resolved_sync_mode, n_output_frames, source_fingerprint, work_dir, video_codec
(resolved), source_format (JSON: picture format and colour tags, own audio, subtitles, chapters).
Fan-out: 1 -> 1. Bad input, or an output that cannot be delivered as asked -> a failed row naming
the problem, before any work.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from lipdub.cancel_marker import item_work_dir
from lipdub.errors import InputError
from lipdub.fingerprint import uri_sha256
from lipdub.media.delivery import check_output_format
from lipdub.media.mux import delivered_audio
from lipdub.media.probe import VideoInfo, probe_audio, probe_video
from lipdub.storage import local_path
from lipdub.timeline import plan_timeline
from operators.base import Operator


class ProbeOperator(Operator):
    name = "probe"
    # The source's content fingerprint keys its cached analysis; it reads the whole video.
    fingerprint_source = True
    # Whether the row makes an output whose format must be deliverable (training rows make none).
    checks_output = True

    def process(self, row: dict[str, Any]) -> dict[str, Any]:
        for column in ("item_id", "video_uri", "audio_uri", "output_uri"):
            if not row.get(column):
                raise InputError(f"item has no {column}")
        with local_path(row["video_uri"]) as video_path:
            video = probe_video(video_path)
        with local_path(row["audio_uri"]) as audio_path:
            dub = probe_audio(audio_path)
        # A dub the output cannot carry as delivered (its channel layout) fails now, before any
        # work; so does an output format that cannot be made (ProRes in .mp4, an unknown codec).
        delivered_audio(dub.layout, dub.channels, dub.sample_rate, row["audio_uri"])
        video_codec = row.get("video_codec") or self.config.encode.video_codec
        if self.checks_output:
            self._check_delivery(row, video, video_codec)
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
            work_dir=item_work_dir(self.config.work_root, row["item_id"]),
            video_codec=video_codec,
            source_format=source_format_json(video),
        )
        return row

    def _check_delivery(self, row: dict[str, Any], video: VideoInfo, video_codec: str) -> None:
        """The output can be made as asked: its container and codec, the audio mode, the source's
        own audio when it is to be kept."""
        check_output_format(row["output_uri"], video_codec)
        encode = self.config.encode
        if encode.audio not in ("auto", "aac"):
            raise InputError(f"unknown audio mode {encode.audio!r}: use auto or aac")
        if encode.keep_original_audio:
            if not video.has_audio:
                raise InputError(f"{row['video_uri']}: has no audio track to keep (keep_original_audio)")
            delivered_audio(video.audio_layout or "", video.audio_channels or 0, video.audio_sample_rate or 0, row["video_uri"])


def source_format_json(video: VideoInfo) -> str:
    """What the output keeps of the source besides its frames (see lipdub/media/delivery.py)."""
    audio = None
    if video.has_audio:
        audio = {"index": video.audio_index, "codec": video.audio_codec, "layout": video.audio_layout,
                 "channels": video.audio_channels, "sample_rate": video.audio_sample_rate, "language": video.audio_language}
    return json.dumps({
        "picture": asdict(video.picture),
        "audio": audio,
        "subtitles": [list(track) for track in video.subtitles],
        "chapters": video.n_chapters,
    }, sort_keys=True)


class InputCheck(ProbeOperator):
    """The probe's checks alone, without the fingerprint: cheap enough for a driver to refuse bad
    input in about a second, before Ray starts (`lipdub dub`; catalog runs through
    pipelines/input_check.py), with the probe's own words."""

    fingerprint_source = False
