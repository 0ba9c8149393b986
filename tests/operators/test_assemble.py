import json
from pathlib import Path

import av
import pytest

import numpy as np

from lipdub.media.audio_io import iter_audio_chunks
from lipdub.media.mux import delivered_audio, mux_segments
from lipdub.media.probe import probe_audio, probe_video
from lipdub.media.output_file import dub_track_tags
from operators.assemble import AssembleOperator, delivers_whole_dub, merge_segment_rows, output_tags


def test_assemble_writes_the_output_once_complete(assembled_row):
    assert assembled_row["status"] == "ok", assembled_row["error"]
    info = probe_video(assembled_row["output_uri"])
    assert info.n_frames == assembled_row["n_output_frames"]
    assert info.has_audio
    assert [p.name for p in Path(assembled_row["output_uri"]).parent.iterdir()] == ["dubbed.mp4"]


def test_undecodable_dub_fails_the_item_and_leaves_no_output(stage_config, rendered_rows, tmp_path):
    """The dub is streamed into the mux: a bad one must still fail the item cleanly, not half-write."""
    junk = tmp_path / "dub.wav"
    junk.write_bytes(b"RIFF" + bytes(range(256)) * 8)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    row = dict(merge_segment_rows(rendered_rows), audio_uri=str(junk), output_uri=str(out_dir / "dubbed.mp4"))
    (failed,) = AssembleOperator(stage_config).run_row(row)
    assert failed["status"] == "failed" and failed["failed_stage"] == "assemble"
    assert str(junk) in failed["error"]
    assert list(out_dir.iterdir()) == []


def _packets(path):
    """Every packet of the file as written: stream, timestamps and payload."""
    with av.open(str(path)) as container:
        return [(p.stream.index, p.pts, p.dts, p.duration, bytes(p)) for p in container.demux() if p.size]


def test_the_streamed_dub_writes_the_same_file_as_the_loaded_one(stage_config, assembled_row, tmp_path):
    """Streaming the dub changes the memory the mux needs, nothing in the file: on the demo's own
    segments and dub, every packet (audio and video, timestamps and bytes) equals what the
    whole-array mux writes, also with chunk boundaries falling inside the video."""
    segments = json.loads(assembled_row["segment_uris"])
    dub = assembled_row["audio_uri"]
    info = probe_audio(dub)
    layout, rate = delivered_audio(info.layout, info.channels, info.sample_rate, dub)
    options = {"audio_bitrate": stage_config.encode.audio_bitrate * info.channels, "metadata": output_tags(assembled_row),
               "audio_layout": layout, "audio_metadata": dub_track_tags(assembled_row["language"], ".mp4"),
               "audio_to_end": delivers_whole_dub(assembled_row)}
    loaded, small_chunks = tmp_path / "loaded.mp4", tmp_path / "small_chunks.mp4"
    whole = np.concatenate(list(iter_audio_chunks(dub, rate, keep_channels=True)))
    mux_segments(segments, whole, rate, str(loaded), **options)
    mux_segments(segments, iter_audio_chunks(dub, rate, chunk_seconds=0.7, keep_channels=True), rate, str(small_chunks),
                 **options)
    written = _packets(assembled_row["output_uri"])
    assert written == _packets(loaded)
    assert written == _packets(small_chunks)


@pytest.mark.parametrize("mode", ["cut_off", "loop", "bounce", "silence", "remap"])
@pytest.mark.parametrize("dub_seconds", [0.61, 1.43])
def test_every_sync_mode_ends_the_audio_where_its_timeline_says(tmp_path, mode, dub_seconds):
    """Exact timing (issue 23): with the source 1.0 s at 25 fps, the output's audio is the whole
    dub to the sample where the mode's timeline covers it (the picture within a frame of it), and
    ends with the picture where the mode cuts or pads the dub; it starts with the first picture."""
    from fractions import Fraction

    from lipdub.media.output_file import write_output
    from lipdub.media.video_writer import VideoWriter
    from lipdub.timeline import plan_timeline

    rate, fps = 48000, 25
    timeline = plan_timeline(25, fps, dub_seconds, mode)
    row = {"fps_num": fps, "fps_den": 1, "n_output_frames": timeline.n_frames, "dub_seconds": dub_seconds,
           "resolved_sync_mode": timeline.sync_mode}
    segment = tmp_path / "seg.mp4"
    with VideoWriter(str(segment), 32, 32, Fraction(fps), preset="ultrafast") as writer:
        for _ in range(timeline.n_frames):
            writer.write(np.zeros((32, 32, 3), np.uint8))
    dub = tmp_path / "dub.wav"
    n_dub = int(round(dub_seconds * rate))
    with av.open(str(dub), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.full((1, n_dub), 0.25, np.float32), format="flt", layout="mono")
        frame.sample_rate, frame.pts = rate, 0
        for packet in stream.encode(frame):
            out.mux(packet)
        out.mux(stream.encode(None))
    out = tmp_path / "out.mov"  # PCM: every sample counts
    write_output([str(segment)], str(dub), str(out), language="de", whole_dub=delivers_whole_dub(row))
    with av.open(str(out)) as container:
        frames = list(container.decode(audio=0))
    with av.open(str(out)) as container:
        first_video = next(container.decode(video=0))
    first_audio = frames[0]
    samples = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
    video_samples = timeline.n_frames * rate // fps
    expected = n_dub if delivers_whole_dub(row) else video_samples
    assert len(samples) == expected
    assert abs(timeline.n_frames / fps - len(samples) / rate) <= 1 / fps
    assert float(first_audio.pts * first_audio.time_base) == float(first_video.pts * first_video.time_base) == 0.0
    if mode in ("loop", "bounce", "remap"):
        assert delivers_whole_dub(row)
