from pathlib import Path

from lipdub.media.probe import probe_video


def test_assemble_writes_the_output_once_complete(assembled_row):
    assert assembled_row["status"] == "ok", assembled_row["error"]
    info = probe_video(assembled_row["output_uri"])
    assert info.n_frames == assembled_row["n_output_frames"]
    assert info.has_audio
    assert [p.name for p in Path(assembled_row["output_uri"]).parent.iterdir()] == ["dubbed.mp4"]
