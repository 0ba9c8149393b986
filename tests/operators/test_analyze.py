from pathlib import Path

import pytest

from lipdub.errors import InputError
from lipdub.face.analysis import FaceAnalysis
from operators.analyze import SPOOL_DIR, AnalyzeOperator, parse_speaker_point


def test_analysis_finds_the_face_and_builds_an_atlas(analyzed_row):
    assert analyzed_row["status"] == "pending", analyzed_row["error"]
    faces = FaceAnalysis.from_npz(analyzed_row["analysis_uri"])
    assert faces.valid.mean() > 0.9
    assert analyzed_row["speaker_found_share"] > 0.9
    assert Path(analyzed_row["atlas_uri"]).is_dir()
    # The face regions kept for the atlas (one decode) are not part of the published analysis.
    published = {path.name for path in Path(analyzed_row["atlas_uri"]).parent.iterdir()}
    assert SPOOL_DIR not in published and "faces.npz" in published


def test_a_second_item_on_the_same_video_reuses_the_analysis(stage_config, probed_row, analyzed_row):
    (again,) = AnalyzeOperator(stage_config).run_row(dict(probed_row, item_id="other"))
    assert again["analysis_cached"] is True
    assert again["analysis_uri"] == analyzed_row["analysis_uri"]


def test_speaker_point_parsing():
    assert parse_speaker_point("10,20.5") == (10.0, 20.5)
    assert parse_speaker_point(None) is None
    with pytest.raises(InputError):
        parse_speaker_point("left")
