"""Delivery formats (issue 23): codecs and profiles, colour that survives, what is refused, what
passes through from the source."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from lipdub.errors import InputError
from lipdub.media.delivery import PictureFormat, audio_plan, check_output_format, container_suffix, output_pix_fmt
from lipdub.media.language import container_language
from lipdub.media.output_file import Delivery, SourceTracks, write_output
from lipdub.media.video_writer import VideoWriter

RATE = 48000
TEN_BIT_422 = PictureFormat(pix_fmt="yuv422p10le", color_primaries=1, color_trc=1, colorspace=1, color_range=1)


def write_segment(path: Path, codec: str, picture: PictureFormat | None, frames: int = 10, crf: int = 18) -> Path:
    rng = np.random.default_rng(1)
    with VideoWriter(str(path), 64, 48, Fraction(25), codec=codec, picture=picture, crf=crf, preset="ultrafast") as writer:
        for _ in range(frames):
            writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    return path


def write_wav(path: Path, seconds: float = 0.4) -> Path:
    t = np.arange(int(seconds * RATE)) / RATE
    samples = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)[None]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.sample_rate, frame.pts = RATE, 0
        for packet in stream.encode(frame):
            out.mux(packet)
        out.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("codec,suffix,name,profile", [
    ("h264", ".mp4", "h264", "High 4:2:2"),
    ("h265", ".mkv", "hevc", "Rext"),
    ("prores", ".mov", "prores", "HQ"),
])
def test_each_codec_delivers_the_source_format(tmp_path, codec, suffix, name, profile):
    """A 10-bit 4:2:2 BT.709 source stays 10-bit 4:2:2 BT.709 in every codec, in its container."""
    segment = write_segment(tmp_path / f"seg{'.mov' if codec == 'prores' else '.mp4'}", codec, TEN_BIT_422)
    out = tmp_path / f"out{suffix}"
    write_output([str(segment)], str(write_wav(tmp_path / "dub.wav")), str(out), language="en", whole_dub=True)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        cc = stream.codec_context
        assert (cc.name, cc.profile, cc.pix_fmt) == (name, profile, "yuv422p10le")
        assert (cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range) == (1, 1, 1, 1)
        assert sum(1 for _ in container.decode(stream)) == 10
    if codec == "h265":
        mp4 = tmp_path / "out.mp4"
        write_output([str(segment)], str(write_wav(tmp_path / "dub.wav")), str(mp4), language="en", whole_dub=True)
        with av.open(str(mp4)) as container:
            assert container.streams.video[0].codec_tag == "hvc1"  # Apple players' HEVC tag


def test_an_eight_bit_source_stays_eight_bit_420():
    assert output_pix_fmt("yuv420p", "h264") == "yuv420p"
    assert output_pix_fmt("yuvj420p", "h265") == "yuv420p"
    assert output_pix_fmt("yuv420p10le", "h264") == "yuv420p10le"
    assert output_pix_fmt("yuv420p", "prores") == "yuv422p10le"  # ProRes 422 HQ is always 10-bit 4:2:2


def test_the_source_yuv_values_survive_the_rgb_round_trip(tmp_path):
    """A BT.709 source decoded to RGB (as the render does) and encoded back with its picture format
    keeps its YUV values; swscale's default matrix (BT.601) would shift the colours."""
    # Smooth picture with moderate colour (a face; random chroma would measure 4:2:0 resampling).
    y, x = np.mgrid[0:48, 0:64]
    planes = [100 + x // 2 + y // 2, np.full((24, 32), 100), np.full((24, 32), 160)]
    source = av.VideoFrame.from_ndarray(np.concatenate([p.astype(np.uint8).ravel() for p in planes]).reshape(72, 64), format="yuv420p")
    source.colorspace, source.color_range = 1, 1
    rgb = source.to_ndarray(format="rgb24")  # the decoder honours the frame's tags
    picture = PictureFormat(pix_fmt="yuv420p", color_primaries=1, color_trc=1, colorspace=1, color_range=1)

    def errors(picture_format: PictureFormat | None) -> tuple[float, float]:
        path = tmp_path / f"{picture_format is not None}.mp4"
        with VideoWriter(str(path), 64, 48, 25, crf=0, preset="ultrafast", picture=picture_format) as writer:
            writer.write(rgb)
        with av.open(str(path)) as container:
            decoded = next(container.decode(video=0)).to_ndarray().astype(float)
        luma = np.abs(decoded[:48] - planes[0]).mean()
        chroma = (np.abs(decoded[48:60] - 100).mean() + np.abs(decoded[60:72] - 160).mean()) / 2
        return float(luma), float(chroma)

    (luma, chroma), (_, default_chroma) = errors(picture), errors(None)
    # Luma: swscale's 8-bit round trip itself costs ~1.4 levels here, whichever matrix.
    assert luma < 2.0 and chroma < 0.5, (luma, chroma)
    assert default_chroma > 2 * chroma + 1.0, default_chroma


def test_an_untagged_source_stays_untagged_but_its_range():
    """Players disagree on an untagged source's colours (FFmpeg: BT.601, browsers: BT.709 for HD),
    so the output leaves them as the source did; the range everyone assumes is written."""
    untagged = PictureFormat()
    assert untagged.delivered_tags(1080) == {"color_primaries": 2, "color_trc": 2, "colorspace": 2, "color_range": 1}
    assert PictureFormat(pix_fmt="yuvj420p").delivered_tags(480)["color_range"] == 2
    assert PictureFormat(colorspace=1, color_primaries=1, color_trc=1).delivered_tags(480)["colorspace"] == 1


def test_what_cannot_be_delivered_is_refused_with_a_reason():
    with pytest.raises(InputError, match="prores cannot be delivered in .mp4; use .mkv, .mov"):
        check_output_format("out/a.mp4", "prores")
    with pytest.raises(InputError, match="unknown video codec 'vp9'"):
        check_output_format("out/a.mp4", "vp9")
    with pytest.raises(InputError, match="must end in .mp4, .mov or .mkv"):
        container_suffix("s3://bucket/a.avi")
    assert check_output_format("s3://bucket/a.MOV", "prores") == ".mov"


@pytest.mark.parametrize("codec,suffix,whole,mode,expected", [
    ("aac", ".mp4", True, "auto", ("copy", "aac")),
    ("aac", ".mp4", False, "auto", ("encode", "aac")),  # cut: AAC cannot be cut by copy
    ("pcm_s24le", ".mp4", True, "auto", ("encode", "aac")),  # MP4 takes no PCM
    ("pcm_s24le", ".mov", True, "auto", ("copy", "pcm_s24le")),
    ("pcm_s24le", ".mov", False, "auto", ("encode", "pcm_s24le")),  # lossless re-write
    ("flac", ".mkv", True, "auto", ("copy", "flac")),
    ("flac", ".mov", True, "auto", ("encode", "pcm_s24le")),  # FLAC has no MOV mapping
    ("mp3", ".mkv", True, "auto", ("encode", "aac")),
    ("pcm_s24le", ".mov", True, "aac", ("encode", "aac")),
])
def test_the_audio_plan(codec, suffix, whole, mode, expected):
    plan = audio_plan(codec, suffix, whole, mode, "s32")
    assert (plan.action, plan.codec) == expected
    assert plan.reason


def test_mov_gets_quicktime_language_codes():
    assert container_language("deu", ".mov") == "ger"
    assert container_language("deu", ".mp4") == "deu"
    assert container_language("jpn", ".mov") == "jpn"
    assert container_language("swe", ".mov") is None  # QuickTime's table lacks it: title only


def write_source_with_subtitles_and_chapters(tmp_path: Path) -> Path:
    """An .mkv source: 30 frames, an English SRT track, two chapters."""
    srt = tmp_path / "subs.srt"
    srt.write_text("1\n00:00:00,100 --> 00:00:00,400\nHello there\n\n2\n00:00:00,800 --> 00:00:01,100\nGeneral Kenobi\n\n"
                   "3\n00:00:05,000 --> 00:00:06,000\nAfter the end\n\n")
    frames = write_segment(tmp_path / "frames.mp4", "h264", None, frames=30)
    source = tmp_path / "source.mkv"
    chapters = [{"id": 1, "start": 0, "end": 500, "time_base": Fraction(1, 1000), "metadata": {"title": "Intro"}},
                {"id": 2, "start": 500, "end": 1200, "time_base": Fraction(1, 1000), "metadata": {"title": "Talk"}},
                {"id": 3, "start": 5000, "end": 6000, "time_base": Fraction(1, 1000), "metadata": {"title": "Later"}}]
    with av.open(str(source), "w") as out, av.open(str(frames)) as video, av.open(str(srt)) as subs:
        streams = {"video": out.add_stream_from_template(video.streams.video[0]), "subtitle": out.add_stream_from_template(subs.streams[0])}
        streams["subtitle"].metadata["language"] = "eng"
        out.set_chapters(chapters)
        for packet in [*video.demux(video=0), *subs.demux(subtitles=0)]:
            if packet.size:
                packet.stream = streams[packet.stream.type]
                out.mux(packet)
    return source


def test_subtitles_and_chapters_pass_through_within_the_output(tmp_path):
    from lipdub.media.probe import probe_video
    from operators.probe import source_format_json
    import json

    source = write_source_with_subtitles_and_chapters(tmp_path)
    formats = json.loads(source_format_json(probe_video(source)))
    assert formats["chapters"] == 3 and formats["subtitles"][0][2] == "eng"
    segment = write_segment(tmp_path / "seg.mp4", "h264", None, frames=30)
    out = tmp_path / "out.mkv"
    write_output([str(segment)], str(write_wav(tmp_path / "dub.wav", 1.2)), str(out), language="de", whole_dub=True,
                 source=SourceTracks(str(source), formats, keeps_timing=True), video_seconds=1.2)
    with av.open(str(out)) as container:
        (subtitle,) = container.streams.subtitles
        assert subtitle.metadata["language"] == "eng"
        texts = [bytes(p) for p in container.demux(subtitle) if p.size]
        assert texts == [b"Hello there", b"General Kenobi"]  # the cue after the output's end is left out
        chapters = container.chapters()
    assert [c["metadata"]["title"] for c in chapters] == ["Intro", "Talk"]
    assert float(chapters[-1]["end"] * chapters[-1]["time_base"]) == pytest.approx(1.2)


def test_a_changed_timeline_leaves_subtitles_out(tmp_path):
    source = write_source_with_subtitles_and_chapters(tmp_path)
    segment = write_segment(tmp_path / "seg.mp4", "h264", None, frames=30)
    out = tmp_path / "out.mkv"
    formats = {"subtitles": [[1, "srt", "eng"]], "chapters": 3}
    write_output([str(segment)], str(write_wav(tmp_path / "dub.wav", 1.2)), str(out), language="de", whole_dub=True,
                 source=SourceTracks(str(source), formats, keeps_timing=False), delivery=Delivery(), video_seconds=1.2)
    with av.open(str(out)) as container:
        assert not container.streams.subtitles and not container.chapters()
