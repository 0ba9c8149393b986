"""`lipdub gc` on a store built by real catalog runs: three runs, one of them crashed, then gc,
then a rerun that must find every finished item still finished."""
from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jobs.cli import app
from pipelines.catalog_run import run_catalog
from lipdub.config import PipelineConfig
from lipdub.results import SUMMARY_FILE, read_results
from lipdub.store_gc import LAST_USED_FILE
from lipdub.work_store import fetch_directory

log = logging.getLogger(__name__)
PHASE_GAP_S = 1.5


def distinct_copy(source: Path, target: Path, tag: bytes) -> Path:
    """The same video with different bytes (a trailing MP4 ``free`` box): its own analysis key."""
    shutil.copy(source, target)
    with open(target, "ab") as handle:
        handle.write((8 + len(tag)).to_bytes(4, "big") + b"free" + tag)
    return target


def write_catalog(path: Path, rows: list[tuple[str, Path, Path]]) -> str:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_id", "video_uri", "audio_uri", "language"])
        writer.writerows([item, str(video), str(audio), "de"] for item, video, audio in rows)
    return str(path)


def files_under(root: Path) -> dict[str, int]:
    return {str(path.relative_to(root)): path.stat().st_size for path in root.rglob("*") if path.is_file()}


def analysis_keys(row: dict) -> set[str]:
    """The analysis folders an item's result names (faces + atlas, and the source's speech)."""
    return {Path(row[column]).parent.name for column in ("analysis_uri", "source_speech_uri") if row.get(column)}


def crash(run_dir: Path) -> None:
    """What a driver killed after its last flush leaves: result parts, no manifest, no summary."""
    for name in ("results.parquet", SUMMARY_FILE):
        (run_dir / name).unlink()


@pytest.mark.long  # three dub runs, one interrupted (about a minute): the long tier
def test_gc_after_three_runs_one_crashed_keeps_all_that_is_needed(tmp_path, demo_inputs, ray_local, monkeypatch):
    monkeypatch.setenv("LIPDUB_NODE_CACHE", str(tmp_path / "node-cache"))
    source, dub = demo_inputs
    videos = {name: distinct_copy(source, tmp_path / f"{name}.mp4", name.encode()) for name in ("s1", "s2", "s3")}
    dubs = {item: shutil.copy(dub, tmp_path / f"dub-{item}.wav") for item in ("a", "b", "c")}
    out, work = tmp_path / "out", tmp_path / "work"
    config = PipelineConfig(work_root=str(work))
    runs = out / "_lipdub" / "runs"

    # A temporary of a writer that died two days ago: the next run's start sweeps it away.
    (out / "de").mkdir(parents=True)
    stale = out / "de" / ".x.mp4.partial-k2j4_x9q.mp4"
    stale.write_bytes(b"z" * 1000)
    os.utime(stale, (time.time() - 2 * 86400,) * 2)

    first = run_catalog(write_catalog(tmp_path / "c1.csv", [("a", videos["s1"], dubs["a"]), ("b", videos["s2"], dubs["b"])]), output_root=str(out), config=config)
    assert first.ok == 2 and not stale.exists()
    second = run_catalog(write_catalog(tmp_path / "c2.csv", [("c", videos["s3"], dubs["c"])]), output_root=str(out), config=config)
    assert second.ok == 1
    crash(runs / second.run_id)

    time.sleep(PHASE_GAP_S)
    t_mid = time.time()
    time.sleep(PHASE_GAP_S)
    with open(dubs["b"], "ab") as handle:
        handle.write(b"\0\0")  # b's dub changed: b is redone and reuses its source's analysis
    all_items = write_catalog(tmp_path / "all.csv", [("a", videos["s1"], dubs["a"]), ("b", videos["s2"], dubs["b"]), ("c", videos["s3"], dubs["c"])])
    third = run_catalog(write_catalog(tmp_path / "c3.csv", [("a", videos["s1"], dubs["a"]), ("b", videos["s2"], dubs["b"])]), output_root=str(out), config=config)
    assert (third.ok, third.skipped, third.analyses_from_cache) == (1, 1, 1)

    rows = {row["item_id"]: row for run in (first, third) for row in read_results(run.results_uri) if row["status"] == "ok"}
    rows["c"] = next(row for row in read_results(str(runs / second.run_id / "part-00000.parquet")) if row["status"] == "ok")
    for column in ("analysis_uri", "source_speech_uri"):  # the reuse was stamped by the analyze and listen stages
        assert (Path(rows["b"][column]).parent / LAST_USED_FILE).stat().st_mtime > t_mid
    work_before, out_before = files_under(work), files_under(out)
    outputs = {item: Path(row["output_uri"]).stat().st_mtime_ns for item, row in rows.items()}

    age = time.time() - t_mid
    result = CliRunner().invoke(app, ["gc", "--older-than", str(age / 86400), "--temp-age-hours", str(age / 3600),
                                      "--work-root", str(work), "--output-root", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    figure = {"gc": summary, "work_store_before": {"files": len(work_before), "bytes": sum(work_before.values())},
              "work_store_after": {"files": len(files_under(work)), "bytes": sum(files_under(work).values())}}
    log.info("gc after three runs, one crashed: %s", json.dumps(figure, sort_keys=True))
    (tmp_path / "gc-figure.json").write_text(json.dumps(figure, indent=2))

    # Only a's analyses and work dir go: a was last used by the first run (the third skipped it).
    gone_keys = {path.split("/")[1] for path in work_before if path.startswith("analysis/")} - {
        path.split("/")[1] for path in files_under(work) if path.startswith("analysis/")}
    assert gone_keys == analysis_keys(rows["a"])
    assert summary["removed"]["analyses"]["entries"] == len(gone_keys)
    assert summary["removed"]["item_work_dirs"]["entries"] == 1 and not Path(rows["a"]["work_dir"]).exists()
    assert (summary["runs_finished_in_window"], summary["runs_unfinished"], summary["runs_finished_before"]) == (1, 1, 1)
    assert sum(work_before.values()) - sum(files_under(work).values()) == summary["bytes"] > 0

    # Nothing needed was lost: b's (third run) and c's (crashed run) analyses and work dirs,
    # every output, every run record.
    for item in ("b", "c"):
        assert (fetch_directory(str(Path(rows[item]["analysis_uri"]).parent)) / "faces.npz").is_file()
        assert Path(rows[item]["source_speech_uri"]).is_file() and Path(rows[item]["work_dir"]).is_dir()
    assert files_under(out) == out_before
    assert {item: Path(row["output_uri"]).stat().st_mtime_ns for item, row in rows.items()} == outputs

    # A rerun of the whole catalog redoes no finished item.
    rerun = run_catalog(all_items, output_root=str(out), config=config)
    assert rerun.plan_reasons == {"unchanged": 3} and rerun.ok == 0 and rerun.skipped == 3
    assert {item: Path(row["output_uri"]).stat().st_mtime_ns for item, row in rows.items()} == outputs
