"""Write one delivered output file: the rendered segments, the dub track and what the source keeps.

The decisions (copy or encode the dub, which codec) come from lipdub/media/delivery.py; this
module carries them out with `mux_segments`: the dub track first (tagged with its language and a
title), then the source's own audio when asked (not played by default), its subtitles and
chapters when the output keeps the source's timing.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import av

from lipdub.media.audio_io import iter_audio_chunks
from lipdub.media.delivery import SUBTITLE_CODECS, AudioPlan, audio_plan, container_suffix, copies_into
from lipdub.media.language import container_language, iso639_2, language_name
from lipdub.media.mux import delivered_audio, mux_segments
from lipdub.media.probe import probe_audio
from lipdub.media.tracks import CopiedStream, EncodedAudio, Track, as_float_chunks

log = logging.getLogger(__name__)

__all__ = ["Delivery", "SourceTracks", "dub_track_tags", "write_output"]


@dataclass(frozen=True)
class Delivery:
    """The delivery settings (the config's encode section)."""

    audio_mode: str = "auto"  # "auto": copy the dub when it fits; "aac": always encode
    audio_bitrate: int = 192_000  # AAC, per channel
    keep_original_audio: bool = False


@dataclass(frozen=True)
class SourceTracks:
    """The source file and what it holds besides its picture (operators/probe.py's source_format)."""

    path: str
    format: dict[str, Any] = field(default_factory=dict)
    keeps_timing: bool = False  # output frame i is source frame i (subtitles, chapters still fit)
    uri: str = ""  # for messages


def dub_track_tags(language: str | None, suffix: str, label: str = "") -> dict[str, str]:
    """The dub track's language (ISO 639-2, in the container's form) and a title."""
    tags = {"title": f"{language_name(language)} dub" if language else "dub"}
    code = container_language(iso639_2(language), suffix)
    if code is None:
        log.warning("%s: %s cannot carry the language %r (QuickTime's table lacks it); only the title names it; "
                    "deliver .mp4 or .mkv to tag it", label, suffix, language)
    else:
        tags["language"] = code
    return tags


def write_output(segments: list[str], dub_path: str, out_path: str, *, language: str | None, whole_dub: bool,
                 delivery: Delivery = Delivery(), source: SourceTracks | None = None, video_seconds: float = 0.0,
                 container_tags: dict[str, str] | None = None, label: str = "", dub_uri: str = "") -> AudioPlan:
    """Mux `segments` and the dub at `dub_path` into `out_path` (its extension picks the container).

    ``whole_dub``: the output carries the dub to its last sample (else it ends with the video).
    ``video_seconds``: the picture's length (where the source's chapters are cut).
    Returns how the dub track was made.
    """
    suffix = container_suffix(out_path)
    dub = probe_audio(dub_path)
    plan = audio_plan(dub.codec, suffix, whole_dub, delivery.audio_mode, dub.sample_format)
    log.info("%s: dub track %s %s (%s)", label, plan.action, plan.codec, plan.reason)
    tags = dub_track_tags(language, suffix, label)
    extra = _source_tracks(source, suffix, delivery, label) if source is not None else []
    chapters = None
    if source is not None and source.keeps_timing and source.format.get("chapters"):
        chapters = (source.path, video_seconds)
    if plan.action == "copy":
        track = CopiedStream(dub_path, dub.stream_index, metadata=tags)
        mux_segments(segments, track, dub.sample_rate, out_path, metadata=container_tags, extra_tracks=extra,
                     chapters_from=chapters)
        return plan
    # Streamed: the dub is decoded a few seconds at a time as the video is written, so a
    # film-length dub never sits in memory whole (2 h at 48 kHz would be ~1.4 GB). The dub's own
    # channels and rate (a 5.1 mix stays 5.1; AAC lacks some rates); AAC's bitrate scales with channels.
    layout, rate = delivered_audio(dub.layout, dub.channels, dub.sample_rate, dub_uri or dub_path)
    rate = rate if plan.codec == "aac" else dub.sample_rate
    audio = iter_audio_chunks(dub_path, sample_rate=rate, keep_channels=True)
    mux_segments(segments, audio, rate, out_path, audio_bitrate=delivery.audio_bitrate * dub.channels,
                 metadata=container_tags, audio_layout=layout, audio_metadata=tags, audio_codec=plan.codec,
                 audio_sample_format=plan.sample_format, audio_to_end=whole_dub, extra_tracks=extra,
                 chapters_from=chapters)
    return plan


def _source_tracks(source: SourceTracks, suffix: str, delivery: Delivery, label: str) -> list[Track]:
    """The source's own audio (when kept) and its subtitles (where the timing still fits)."""
    tracks: list[Track] = []
    audio = source.format.get("audio")
    if delivery.keep_original_audio and audio:
        code = container_language(iso639_2(audio.get("language")), suffix)
        tags = {"title": "Original audio", **({"language": code} if code else {})}
        if copies_into(audio["codec"], suffix):
            tracks.append(CopiedStream(source.path, audio["index"], metadata=tags, default=False, cut=True))
        else:
            layout, rate = delivered_audio(audio["layout"], audio["channels"], audio["sample_rate"], source.uri or source.path)
            chunks = as_float_chunks(iter_audio_chunks(source.path, sample_rate=rate, keep_channels=True), av.AudioLayout(layout).nb_channels)
            tracks.append(EncodedAudio(chunks, rate, layout, metadata=tags, default=False,
                                       bitrate=delivery.audio_bitrate * audio["channels"]))
    subtitles = source.format.get("subtitles") or []
    if subtitles and not source.keeps_timing:
        log.warning("%s: the source's subtitles are not passed through: the sync mode changes the timing", label)
        return tracks
    for index, codec, language in subtitles:
        if codec in SUBTITLE_CODECS[suffix]:
            tracks.append(CopiedStream(source.path, index, metadata={"language": language}, default=False, cut=True))
        else:
            log.warning("%s: subtitle track %d (%s) has no %s mapping; not passed through", label, index, codec, suffix)
    return tracks
