import json
from pathlib import Path

import av

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
