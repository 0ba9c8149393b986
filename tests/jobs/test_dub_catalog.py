"""The catalog job end to end on a local Ray: results manifest, analysis cache, resumable reruns."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jobs.cli import app
from jobs.dub_catalog import run_catalog
from lipdub.config import PipelineConfig
from lipdub.media.probe import probe_video
from lipdub.results import read_results

runner = CliRunner()


def _write_catalog(path: Path, rows: list[list[str]]) -> str:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_id", "video_uri", "audio_uri", "language", "sync_mode"])
        writer.writerows(rows)
    return str(path)


@pytest.fixture(scope="module")
def catalog_run(tmp_path_factory, demo_inputs, ray_local):
    """One source dubbed into two languages, plus a missing video and a bad sync mode; run once."""
    folder = tmp_path_factory.mktemp("catalog")
    source, dub = demo_inputs
    shutil.copy(source, folder / "source.mp4")
    shutil.copy(dub, folder / "dub-de.wav")
    shutil.copy(dub, folder / "dub-fr.wav")
    catalog = _write_catalog(
        folder / "catalog.csv",
        [
            ["clip-de", "source.mp4", "dub-de.wav", "de", ""],
            ["clip-fr", "source.mp4", "dub-fr.wav", "fr", "loop"],
            ["gone", "missing.mp4", "dub-de.wav", "de", ""],
            ["sideways", "source.mp4", "dub-de.wav", "de", "sideways"],
        ],
    )
    config = PipelineConfig(work_root=str(folder / "work"))
    summary = run_catalog(catalog, output_root=str(folder / "out"), config=config)
    return folder, catalog, config, summary


def test_every_item_gets_one_result_row(catalog_run):
    folder, _, _, summary = catalog_run
    rows = {row["item_id"]: row for row in read_results(summary.results_uri)}
    assert sorted(rows) == ["clip-de", "clip-fr", "gone", "sideways"]
    assert rows["gone"]["status"] == "failed" and "missing.mp4" in rows["gone"]["error"]
    assert rows["sideways"]["status"] == "failed" and "sideways" in rows["sideways"]["error"]
    for item in ("clip-de", "clip-fr"):
        row = rows[item]
        assert row["status"] == "ok", row["error"]
        assert row["output_uri"] == str(folder / "out" / item.split("-")[1] / f"{item}.mp4")
        assert probe_video(row["output_uri"]).n_frames == row["n_output_frames"] > 0
        assert row["output_fingerprint"] and row["finished_at"] and row["seconds_render"] > 0
    assert (summary.ok, summary.failed, summary.skipped, summary.pending) == (2, 2, 0, 0)
    assert summary.output_frames == rows["clip-de"]["n_output_frames"] + rows["clip-fr"]["n_output_frames"]
    assert set(summary.stage_share) >= {"analyze", "render"} and abs(sum(summary.stage_share.values()) - 1) < 0.01


def test_one_source_in_two_languages_is_analysed_once(catalog_run):
    _, _, _, summary = catalog_run
    rows = [row for row in read_results(summary.results_uri) if row["status"] == "ok"]
    assert sorted(bool(row["analysis_cached"]) for row in rows) == [False, True]
    assert summary.analyses_from_cache == 1


def test_rerun_skips_finished_work_and_redoes_only_what_changed(catalog_run):
    folder, catalog, config, first = catalog_run
    outputs = {item: folder / "out" / item.split("-")[1] / f"{item}.mp4" for item in ("clip-de", "clip-fr")}
    before = {item: path.stat().st_mtime_ns for item, path in outputs.items()}

    again = run_catalog(catalog, output_root=str(folder / "out"), config=config)
    assert (again.ok, again.skipped, again.failed) == (0, 2, 2)
    assert again.plan_reasons == {"unchanged": 2, "bad_row": 2}
    assert {item: path.stat().st_mtime_ns for item, path in outputs.items()} == before
    skipped = {row["item_id"]: row for row in read_results(again.results_uri) if row["status"] == "skipped"}
    assert skipped["clip-de"]["output_uri"] == str(outputs["clip-de"]) and skipped["clip-de"]["n_output_frames"] > 0

    # A new French dub: only the French item is redone.
    shutil.copy(folder / "dub-de.wav", folder / "dub-fr.wav")
    with open(folder / "dub-fr.wav", "ab") as handle:
        handle.write(b"\0\0")  # a changed file (size and time), same speech
    changed = run_catalog(catalog, output_root=str(folder / "out"), config=config)
    assert changed.plan_reasons == {"unchanged": 1, "changed": 1, "bad_row": 2}
    assert (changed.ok, changed.skipped) == (1, 1)
    assert outputs["clip-de"].stat().st_mtime_ns == before["clip-de"]
    assert outputs["clip-fr"].stat().st_mtime_ns != before["clip-fr"]
    assert first.run_id != again.run_id != changed.run_id


def test_unusable_catalog_exits_2_before_any_work(tmp_path):
    catalog = _write_catalog(tmp_path / "c.csv", [["a", "v.mp4", "a.wav", "de", ""], ["a", "v.mp4", "b.wav", "fr", ""]])
    result = runner.invoke(app, ["run", catalog, "--output-root", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "duplicate item_id" in result.output
    assert not (tmp_path / "out").exists()


def test_nightly_refuses_to_overlap_a_running_nightly(tmp_path):
    from jobs.nightly import acquire_lock, release_lock

    catalog = _write_catalog(tmp_path / "c.csv", [["a", "v.mp4", "a.wav", "de", ""]])
    lock = acquire_lock(str(tmp_path / "out" / "_lipdub"), lock_hours=20)
    try:
        result = runner.invoke(app, ["nightly", catalog, "--output-root", str(tmp_path / "out")])
        assert result.exit_code == 4 and "another nightly run holds" in result.output
    finally:
        release_lock(lock)


def test_a_stale_nightly_lock_is_taken_over(tmp_path):
    import json

    from jobs.nightly import LOCK_FILE, acquire_lock

    state = tmp_path / "_lipdub"
    state.mkdir()
    (state / LOCK_FILE).write_text(json.dumps({"host": "old", "pid": 1, "started_at": "2020-01-01T00:00:00+00:00"}))
    lock = acquire_lock(str(state), lock_hours=20)
    assert json.loads(Path(lock).read_text())["host"] != "old"
