"""What a delivered output is made of: container, video codec, picture format, audio handling.

Why one module: the probe refuses unsupported combinations before any work, the render encodes
with them and assemble muxes with them; all three must agree, so the decisions live here.

- The container follows the output's extension: .mp4 (.m4v), .mov, .mkv.
- Video: H.264 (default), H.265 or ProRes 422 HQ (.mov/.mkv only). The source's chroma
  subsampling and bit depth are kept where the codec has them (10-bit 4:2:2 stays 10-bit 4:2:2);
  ProRes is always 10-bit 4:2:2. The picture passes through 8-bit RGB for the mouth render, so a
  10-bit source keeps its format but not more than 8 bits of precision.
- Colour: the source's primaries, transfer, matrix and range are written on the output; an
  untagged source stays untagged (players disagree on what it means: any explicit tag would shift
  its colours in some of them) except its range, written as limited. RGB<->YUV conversion uses
  the same matrix both ways, and outside the mouth's box the source's own YUV samples are kept.
- Audio: the dub is copied packet for packet when its codec fits the container and the output
  carries the whole dub; a PCM/FLAC dub that must be cut or padded is re-encoded losslessly
  (same codec where the container takes it); anything else becomes AAC at a per-channel bitrate.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from fractions import Fraction
import av

from lipdub.errors import InputError

log = logging.getLogger(__name__)

__all__ = [
    "AudioPlan",
    "PictureFormat",
    "VIDEO_CODECS",
    "audio_plan",
    "check_output_format",
    "container_suffix",
    "encoder_settings",
    "segment_suffix",
]

#: Output extension -> the canonical suffix (its container).
_CONTAINERS = {".mp4": ".mp4", ".m4v": ".mp4", ".mov": ".mov", ".mkv": ".mkv"}
#: User-facing codec name -> FFmpeg encoder.
VIDEO_CODECS = {"h264": "libx264", "h265": "libx265", "prores": "prores_ks"}
#: Containers each video codec can be delivered in.
_CODEC_CONTAINERS = {"h264": {".mp4", ".mov", ".mkv"}, "h265": {".mp4", ".mov", ".mkv"}, "prores": {".mov", ".mkv"}}
#: Audio codecs copied as they are, per container (FLAC has no MOV mapping in FFmpeg; Matroska
#: stores no channel layout for PCM, so PCM there reads back as "N channels").
_COPY_CODECS = {
    ".mp4": {"aac"},
    ".mov": {"aac", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_s16be", "pcm_s24be"},
    ".mkv": {"aac", "flac", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le"},
}
_LOSSLESS = {"flac", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_s16be", "pcm_s24be", "pcm_u8"}
#: PCM codec -> the sample format its encoder takes.
_PCM_FORMATS = {"pcm_s16le": "s16", "pcm_s16be": "s16", "pcm_s24le": "s32", "pcm_s24be": "s32", "pcm_s32le": "s32",
                "pcm_f32le": "flt", "pcm_u8": "u8"}
#: Subtitle codecs each container takes by copy.
SUBTITLE_CODECS = {".mp4": {"mov_text"}, ".mov": {"mov_text"}, ".mkv": {"subrip", "srt", "ass", "ssa", "webvtt"}}
#: Unspecified (2) in FFmpeg's colour enums.
_UNSPECIFIED = 2
#: AVColorSpace -> the matrix swscale converts with (only these exist there).
_MATRICES = {1: "ITU709", 4: "FCC", 5: "ITU601", 6: "ITU601", 7: "SMPTE240M", 9: "BT2020", 10: "BT2020"}


def container_suffix(uri: str) -> str:
    """The output's container as its canonical suffix (".mp4", ".mov", ".mkv"); InputError else."""
    suffix = os.path.splitext(uri.split("?")[0])[1].lower()
    if suffix not in _CONTAINERS:
        raise InputError(f"{uri}: output must end in .mp4, .mov or .mkv (the container follows the extension)")
    return _CONTAINERS[suffix]


def check_output_format(output_uri: str, video_codec: str) -> str:
    """Refuse what cannot be delivered (unknown codec, ProRes in MP4) before any work; the suffix."""
    suffix = container_suffix(output_uri)
    if video_codec not in VIDEO_CODECS:
        raise InputError(f"unknown video codec {video_codec!r}: use one of {', '.join(VIDEO_CODECS)}")
    if suffix not in _CODEC_CONTAINERS[video_codec]:
        allowed = ", ".join(sorted(_CODEC_CONTAINERS[video_codec]))
        raise InputError(f"{output_uri}: {video_codec} cannot be delivered in {suffix}; use {allowed}")
    return suffix


def segment_suffix(video_codec: str) -> str:
    """Render segments' container: MP4 for H.264/H.265 (exact 1/fps time base), MOV for ProRes."""
    return ".mov" if video_codec == "prores" else ".mp4"


@dataclass(frozen=True)
class PictureFormat:
    """The source picture's format and colour tags (FFmpeg enum values), carried on item rows."""

    pix_fmt: str = "yuv420p"
    color_primaries: int = _UNSPECIFIED
    color_trc: int = _UNSPECIFIED
    colorspace: int = _UNSPECIFIED
    color_range: int = 0  # 0 unspecified, 1 limited (tv), 2 full (pc)
    sar_num: int = 0  # 0/1: unknown, square pixels
    sar_den: int = 1

    @classmethod
    def of_stream(cls, stream: av.video.stream.VideoStream) -> "PictureFormat":
        cc = stream.codec_context
        sar = stream.sample_aspect_ratio or cc.sample_aspect_ratio
        return cls(
            pix_fmt=str(cc.pix_fmt or "yuv420p"),
            color_primaries=int(cc.color_primaries or _UNSPECIFIED),
            color_trc=int(cc.color_trc or _UNSPECIFIED),
            colorspace=int(cc.colorspace or _UNSPECIFIED),
            color_range=int(cc.color_range or 0),
            sar_num=int(sar.numerator) if sar else 0,
            sar_den=int(sar.denominator) if sar else 1,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> "PictureFormat":
        return cls(**json.loads(text)) if text else cls()

    @property
    def full_range(self) -> bool:
        return self.color_range == 2 or self.pix_fmt.startswith("yuvj")

    def conversion_matrix(self) -> str:
        """The matrix the decoder used to make RGB (unspecified: BT.601), so encoding undoes it."""
        return _MATRICES.get(self.colorspace, "ITU601")

    def delivered_tags(self, height: int) -> dict[str, int]:
        """Tags for the output: the source's own. An untagged source's primaries, transfer and
        matrix stay untagged, so every player and decoder reads the output as it reads the source
        (FFmpeg assumes BT.601 for them, browsers and mpv BT.709 for HD: any explicit choice would
        shift colours in one of them); its range is written explicitly as limited, which is what
        all of them assume. ``height`` is kept for callers choosing defaults by size."""
        del height
        return {
            "color_primaries": self.color_primaries,
            "color_trc": self.color_trc,
            "colorspace": self.colorspace,
            "color_range": 2 if self.full_range else 1,
        }

    @property
    def sample_aspect_ratio(self) -> Fraction | None:
        return Fraction(self.sar_num, self.sar_den) if self.sar_num > 0 and self.sar_den > 0 else None


def output_pix_fmt(source_pix_fmt: str, video_codec: str) -> str:
    """The source's chroma subsampling and depth where the codec has them; else its nearest."""
    if video_codec == "prores":
        return "yuv422p10le"  # ProRes 422 HQ
    name = source_pix_fmt.replace("yuvj", "yuv")
    chroma = "444" if "444" in name or name.startswith(("gbr", "rgb", "bgr")) else "422" if ("422" in name or name.startswith(("nv16", "nv20"))) else "420"
    deep = any(depth in name for depth in ("p10", "p12", "p16", "p010", "p016", "nv20"))
    wanted = f"yuv{chroma}p10le" if deep else f"yuv{chroma}p"
    supported = {fmt.name for fmt in av.codec.Codec(VIDEO_CODECS[video_codec], "w").video_formats or ()}
    return wanted if wanted in supported else "yuv420p"


def encoder_settings(video_codec: str, crf: int, preset: str) -> dict[str, str]:
    """The encoder's options: CRF and preset for x264/x265, the HQ profile for ProRes."""
    if video_codec == "prores":
        return {"profile": "3", "vendor": "apl0"}  # 3 = 422 HQ
    options = {"crf": str(crf), "preset": preset}
    if video_codec == "h265":
        options["x265-params"] = "log-level=error"  # x265 prints its settings to stderr otherwise
    return options


@dataclass(frozen=True)
class AudioPlan:
    """How the dub track is made: ``copy`` (packets as they are) or ``encode`` with `codec`."""

    action: str
    codec: str
    sample_format: str | None = None
    reason: str = ""


def audio_plan(dub_codec: str, suffix: str, whole_dub: bool, mode: str = "auto", dub_sample_format: str = "") -> AudioPlan:
    """Copy when the codec fits the container and the whole dub is delivered; lossless re-encode
    for PCM/FLAC that must be cut or padded; AAC otherwise (or always, with ``mode="aac"``)."""
    if mode not in ("auto", "aac"):
        raise ValueError(f"unknown audio mode {mode!r}: use auto or aac")
    if mode == "aac":
        return AudioPlan("encode", "aac", reason="audio mode aac")
    fits = dub_codec in _COPY_CODECS[suffix]
    if fits and whole_dub:
        return AudioPlan("copy", dub_codec, reason=f"{dub_codec} fits {suffix}")
    if dub_codec in _LOSSLESS and suffix != ".mp4":
        codec = dub_codec if dub_codec in _COPY_CODECS[suffix] else "pcm_s24le"
        # FLAC keeps the dub's depth (its decoder gives s16 for 16-bit, s32 for 24-bit).
        sample_format = ("s16" if dub_sample_format.startswith("s16") else "s32") if codec == "flac" else _PCM_FORMATS.get(codec, "s32")
        why = "the output cuts or pads the dub" if fits else f"{dub_codec} has no {suffix} mapping"
        return AudioPlan("encode", codec, sample_format, reason=f"lossless re-encode: {why}")
    why = "the output cuts or pads the dub" if fits else f"{dub_codec} does not fit {suffix}"
    return AudioPlan("encode", "aac", reason=why)


def copies_into(codec: str, suffix: str) -> bool:
    """Whether an audio stream in `codec` can be copied into the container."""
    return codec in _COPY_CODECS[suffix]
