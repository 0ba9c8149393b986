from pathlib import Path

from lipdub.media.probe import probe_video
from operators.assemble import AssembleOperator, merge_segment_rows


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
