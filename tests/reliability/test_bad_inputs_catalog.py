"""One catalog run over the whole bad-input zoo (tests/reliability/conftest.py).

Every broken, mislabelled or odd input of the zoo is one catalog item, each paired with a normal
dub or a normal video. One run, on the session's local Ray, must finish with exactly one result
row per item: failures carry a message that names the problem (and the file), odd-but-valid
inputs give complete videos of the planned length at the source's size, rotation and rate, and
nothing partial or temporary is left under the output root. Unusable manifests (a duplicate
item_id, a missing column) stop `lipdub run` with exit code 2 before anything is written.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from jobs.cli import app
from lipdub.catalog import write_catalog
from lipdub.config import PipelineConfig
from lipdub.media.probe import probe_audio, probe_video
from lipdub.qa.gate import failed_checks
from lipdub.results import read_results

VIDEO, DUB = "talking.mp4", "dub.wav"


@dataclass(frozen=True)
class Case:
    item_id: str
    video: str  # zoo file name (relative to the catalog, which sits in the zoo folder)
    dub: str
    sync_mode: str | None = None
    error: str | None = None  # None: the item must succeed; else a phrase its error must contain
    culprit: str | None = "video"  # "video" / "dub": the input the error must name by its full path


FAILING = [
    Case("zero-byte-video", "zero byte.mp4", DUB, error="file is empty"),
    Case("truncated-video", "truncated.mp4", DUB, error="file is truncated"),
    Case("wav-named-mp4-as-video", "a wav named.mp4", DUB, error="no video stream"),
    Case("audio-only-as-video", "audio only.m4a", DUB, error="no video stream"),
    Case("text-file-as-video", "notes.txt", DUB, error="text file"),
    Case("no-face", "no face.mp4", DUB, error="no face"),
    Case("video-only-as-dub", VIDEO, "talking (video only).mp4", error="no audio stream", culprit="dub"),
    Case("zero-byte-dub", VIDEO, "zero byte.mp4", error="file is empty", culprit="dub"),
    Case("truncated-dub", VIDEO, "truncated.mp4", error="file is truncated", culprit="dub"),
    Case("silent-dub", VIDEO, "dub silent.wav", error="silent", culprit="dub"),
    Case("random-bytes-dub", VIDEO, "random bytes.m4a", error="not a readable media file", culprit="dub"),
    Case("text-file-as-dub", VIDEO, "notes.txt", error="not a media file", culprit="dub"),
    Case("missing-video", "not here.mp4", DUB, error="not here.mp4: file does not exist"),
    Case("unknown-sync-mode", VIDEO, DUB, sync_mode="sideways", error="unknown sync_mode 'sideways'", culprit=None),
]
SUCCEEDING = [
    Case("mp4-named-wav", "an mp4 named.wav", DUB),
    Case("wav-named-mp4-as-dub", VIDEO, "a wav named.mp4"),
    Case("one-frame", "one frame.mp4", DUB),  # a still that talks: the one frame, bounced
    Case("face-leaves-and-returns", "face leaves and returns.mp4", DUB),
    Case("two-faces", "two faces.mp4", DUB),
    Case("4k", "4k.mp4", DUB, sync_mode="cut_off"),  # six 3840x2160 frames
    Case("gedreht ä 90", "rotated 90.mp4", DUB),  # rotation metadata, and an item_id that is no file name
    Case("variable-frame-rate", "variable rate.mp4", DUB),
    Case("fps-22.13", "22.13 fps.mp4", DUB),
    Case("dub-8-channels", VIDEO, "dub 8 channels.m4a"),
    Case("dub-8-khz", VIDEO, "dub 8 kHz.wav"),
    Case("dub-ten-times-longer", "talking one second.mp4", "dub ten times longer.wav"),
    Case("dub-half-a-second", VIDEO, "dub short.wav"),
]
CASES = {case.item_id: case for case in FAILING + SUCCEEDING}
runner = CliRunner()


@pytest.fixture(scope="module")
def zoo_run(zoo, ray_local, tmp_path_factory):
    """The whole zoo as one catalog (relative URIs, beside the media), run once."""
    catalog = zoo.folder / "zoo catalog.parquet"
    write_catalog(
        [dict(item_id=c.item_id, video_uri=c.video, audio_uri=c.dub, language="de", sync_mode=c.sync_mode) for c in CASES.values()],
        str(catalog),
    )
    output_root = zoo.folder / "dubbed ü"
    config = PipelineConfig(work_root=str(tmp_path_factory.mktemp("zoo_work")))
    from pipelines.catalog_run import run_catalog

    summary = run_catalog(str(catalog), output_root=str(output_root), config=config)
    rows = read_results(summary.results_uri)
    return summary, rows, output_root


def _rows(zoo_run) -> dict[str, dict]:
    return {row["item_id"]: row for row in zoo_run[1]}


def test_the_run_finishes_with_one_result_row_per_item(zoo_run):
    summary, rows, _ = zoo_run
    assert sorted(row["item_id"] for row in rows) == sorted(CASES)
    assert (summary.ok, summary.failed, summary.skipped, summary.pending) == (len(SUCCEEDING), len(FAILING), 0, 0)


@pytest.mark.parametrize("case", FAILING, ids=lambda case: case.item_id)
def test_a_bad_input_fails_its_item_with_a_message_that_names_the_problem(zoo_run, zoo, case):
    row = _rows(zoo_run)[case.item_id]
    assert row["status"] == "failed"
    error = row["error"]
    assert case.error in error, error
    assert "\n" not in error and "Traceback" not in error and len(error) < 400, error
    if case.culprit:
        bad = case.video if case.culprit == "video" else case.dub
        assert str(zoo.folder / bad) in error, error  # the whole path, non-ASCII letters intact
    assert not Path(row["output_uri"]).exists()


def _expected_frames(case: Case, zoo) -> int:
    """Output length from the README: the dub defines it; bounce when the dub is longer than the
    video, cut_off (the shorter of the two) otherwise, unless the row names a mode."""
    video = probe_video(zoo[case.video])
    dub_seconds = probe_audio(zoo[case.dub]).duration_s
    dub_frames = round(dub_seconds * video.fps)
    longer = dub_seconds > video.n_frames / video.fps
    if case.sync_mode == "cut_off" or (case.sync_mode is None and not longer):
        return min(video.n_frames, dub_frames)
    assert case.sync_mode is None  # bounce: as long as the dub
    return dub_frames


@pytest.mark.parametrize("case", SUCCEEDING, ids=lambda case: case.item_id)
def test_an_odd_but_valid_input_gives_a_complete_video(zoo_run, zoo, case):
    row = _rows(zoo_run)[case.item_id]
    assert row["status"] == "ok", row["error"]
    source = probe_video(zoo[case.video])
    output = probe_video(row["output_uri"])
    expected = _expected_frames(case, zoo)
    assert row["n_output_frames"] == output.n_frames == expected
    assert output.display_size == source.display_size
    assert output.rotation == source.rotation
    assert output.fps == source.fps
    assert output.has_audio and output.duration_s == pytest.approx(expected / source.fps, abs=0.05)
    # Complete: the planned frames at the source's rate with the dub as long as the video. (The
    # measured checks may still ask for review: a one-frame clip has no sync to measure.)
    structural = [reason for check, reason in failed_checks(json.loads(row["qa_figures"])) if check == "structure"]
    assert structural == [], structural


def test_specific_outcomes_of_odd_inputs(zoo_run):
    rows = _rows(zoo_run)
    assert rows["two-faces"]["n_faces"] == 2
    assert rows["dub-ten-times-longer"]["resolved_sync_mode"] == "bounce"
    assert rows["dub-half-a-second"]["resolved_sync_mode"] == "cut_off"
    assert rows["4k"]["n_output_frames"] == 6
    assert probe_video(rows["gedreht ä 90"]["output_uri"]).rotation == 90
    assert Path(rows["gedreht ä 90"]["output_uri"]).parent == zoo_run[2] / "de"


def test_frames_where_the_face_is_gone_pass_through_untouched(zoo_run, zoo):
    from lipdub.media.frame_range import iter_frame_range

    row = _rows(zoo_run)["face-leaves-and-returns"]
    absent_from, absent_to = zoo.facts["face_absent"]
    assert row["speaker_found_share"] == pytest.approx(1 - (absent_to - absent_from) / 50, abs=0.05)
    source = zoo["face leaves and returns.mp4"]
    fps = probe_video(source).fps
    # The output's first 50 frames are the source's (bounce plays forward first): where the face
    # is gone, the output is the source frame as it was (up to re-encoding).
    pairs = zip(iter_frame_range(row["output_uri"], absent_from, absent_to, fps),
                iter_frame_range(source, absent_from, absent_to, fps))
    for output_frame, source_frame in pairs:
        assert np.abs(output_frame.astype(float) - source_frame.astype(float)).mean() < 1.5


def test_nothing_partial_or_temporary_under_the_output_root(zoo_run):
    _, rows, output_root = zoo_run
    outputs = {Path(row["output_uri"]) for row in rows if row["status"] == "ok"}
    files = {path for path in output_root.rglob("*") if path.is_file()}
    assert {path for path in files if "_lipdub" not in path.relative_to(output_root).parts} == outputs
    leftovers = [path for path in output_root.rglob("*") if ".partial" in path.name or ".tmp" in path.name]
    assert leftovers == []
    for row in rows:
        if row["status"] != "ok":
            assert not Path(row["output_uri"]).exists()


# --- manifests that cannot run at all ---------------------------------------------------------


def _run_cli(catalog: Path, tmp_path: Path):
    return runner.invoke(app, ["run", str(catalog), "--output-root", str(tmp_path / "out"), "--work-root", str(tmp_path / "work")])


def _assert_stopped_before_any_work(result, tmp_path: Path, *phrases: str) -> None:
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    for phrase in phrases:
        assert phrase in errors[0], errors[0]
    assert not (tmp_path / "out").exists() and not (tmp_path / "work").exists()


def test_a_duplicate_item_id_stops_the_run_with_exit_2(zoo, tmp_path):
    rows = [dict(item_id=item, video_uri=str(zoo[VIDEO]), audio_uri=str(zoo[DUB]), language=lang)
            for item, lang in (("ep-1", "de"), ("ep-2", "de"), ("ep-1", "fr"))]
    catalog = tmp_path / "dupes ä.parquet"
    write_catalog(rows, str(catalog))
    _assert_stopped_before_any_work(_run_cli(catalog, tmp_path), tmp_path, "duplicate item_id", "'ep-1'")


def test_a_missing_column_stops_the_run_with_exit_2(zoo, tmp_path):
    catalog = tmp_path / "no language.parquet"
    pq.write_table(pa.table({"item_id": ["ep-1"], "video_uri": [str(zoo[VIDEO])], "audio_uri": [str(zoo[DUB])]}), catalog)
    _assert_stopped_before_any_work(_run_cli(catalog, tmp_path), tmp_path, "lacks required column(s) language")


def test_the_summary_counts_match_the_manifest(zoo_run):
    summary, rows, output_root = zoo_run
    latest = json.loads((output_root / "_lipdub" / "latest.json").read_text())
    assert latest["run_id"] == summary.run_id
    assert sum(row["n_output_frames"] for row in rows if row["status"] == "ok") == summary.output_frames
