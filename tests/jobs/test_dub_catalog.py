"""The catalog job end to end on a local Ray: results manifest, analysis cache, resumable reruns."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jobs.cli import app
from pipelines.catalog_run import run_catalog
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
    from pipelines.catalog_run import acquire_lock, release_lock

    catalog = _write_catalog(tmp_path / "c.csv", [["a", "v.mp4", "a.wav", "de", ""]])
    lock = acquire_lock(str(tmp_path / "out" / "_lipdub"), lock_hours=20)
    try:
        result = runner.invoke(app, ["nightly", catalog, "--output-root", str(tmp_path / "out")])
        assert result.exit_code == 4 and "another nightly run holds" in result.output
    finally:
        release_lock(lock)


def test_a_stale_nightly_lock_is_taken_over(tmp_path):
    import json

    from pipelines.catalog_run import LOCK_FILE, acquire_lock

    state = tmp_path / "_lipdub"
    state.mkdir()
    (state / LOCK_FILE).write_text(json.dumps({"host": "old", "pid": 1, "started_at": "2020-01-01T00:00:00+00:00"}))
    lock = acquire_lock(str(state), lock_hours=20)
    assert json.loads(Path(lock).read_text())["host"] != "old"


def test_records_the_state_root_refuses_go_to_a_local_folder_and_the_run_exits_5(tmp_path, monkeypatch):
    from jobs.dub_catalog import RESULTS_KEPT_LOCALLY_EXIT_CODE

    catalog = _write_catalog(tmp_path / "c.csv", [["gone", "missing.mp4", "missing.wav", "de", ""]])  # fails before any dubbing
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the state root's parent folder should be: every write under it fails")
    monkeypatch.setenv("LIPDUB_FALLBACK_DIR", str(tmp_path / "fallback"))

    result = runner.invoke(app, ["run", catalog, "--output-root", str(tmp_path / "out"), "--state-root", str(blocker / "state")])
    assert result.exit_code == RESULTS_KEPT_LOCALLY_EXIT_CODE == 5, result.output
    (kept,) = (tmp_path / "fallback").iterdir()
    (error,) = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert f"locally in {kept}" in error and f"lipdub report {kept}" in error and str(blocker / "state" / "runs" / kept.name) in error
    rows = read_results(str(kept))
    assert rows.finished and [(row["item_id"], row["status"]) for row in rows] == [("gone", "failed")]


@pytest.mark.slow
def test_nightly_after_a_killed_run_skips_its_ok_items_and_redoes_the_rest(tmp_path, demo_inputs, ray_local, caplog):
    import json

    from lipdub.catalog import read_catalog
    from lipdub.config import load_config
    from lipdub.run_state import plan_run
    from tests.killed_driver import kill_driver_after_recording

    source, dub = demo_inputs
    shutil.copy(source, tmp_path / "source.mp4")
    for item in ("done", "redo", "never"):
        shutil.copy(dub, tmp_path / f"dub-{item}.wav")
    catalog = _write_catalog(tmp_path / "c.csv", [[item, "source.mp4", f"dub-{item}.wav", "de", ""] for item in ("done", "redo", "never")])
    out, work, state = tmp_path / "out", tmp_path / "work", str(tmp_path / "out" / "_lipdub")
    # The killed nightly: "done" finished (its output written, its row recorded), "redo" failed,
    # "never" was not reached; its driver died before writing results.parquet.
    config = load_config(None).with_overrides(work_root=str(work))
    done, redo, never = plan_run(read_catalog(catalog, str(out)).rows, config, state).to_run
    Path(done["output_uri"]).parent.mkdir(parents=True)
    Path(done["output_uri"]).write_bytes(b"finished by the killed run")
    kill_driver_after_recording(state, "nightly-killed", [dict(done, status="ok"), dict(redo, status="failed", failed_stage="render", error="boom")])

    with caplog.at_level("WARNING", logger="lipdub.run_state"):
        result = runner.invoke(app, ["nightly", catalog, "--output-root", str(out), "--work-root", str(work)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.find("{"):])
    assert summary["plan_reasons"] == {"unchanged": 1, "retry": 1, "new": 1}
    assert (summary["skipped"], summary["ok"], summary["failed"], summary["pending"]) == (1, 2, 0, 0)
    assert Path(done["output_uri"]).read_bytes() == b"finished by the killed run"  # not redone
    for item in (redo, never):
        assert probe_video(item["output_uri"]).n_frames > 0
    warnings = [record.getMessage() for record in caplog.records if "did not finish" in record.getMessage()]
    assert len(warnings) == 1 and "nightly-killed" in warnings[0] and "its 1 ok items count as done" in warnings[0]
