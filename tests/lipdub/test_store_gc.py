"""`lipdub.store_gc` on a store built with the real writers (work-store publishers, results writer),
on local disk and on a real S3-compatible server (moto, on loopback).

Ages are real: the store is built in an "old" phase, then a "recent" one a few seconds later, and
gc's window is set to end between the two (fractions of a day), so nothing fakes a clock.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jobs.cli import app
from lipdub.item_row import empty_row
from lipdub.results import ResultsWriter
from lipdub.storage import filesystem_for, join_uri
from lipdub.run_state import STATE_DIR
from lipdub.store_gc import (
    LAST_USED_FILE,
    RunRecordsUnreadable,
    collect_garbage,
    sweep_stale_temporaries,
    touch_last_used,
)
from lipdub.work_store import COMPLETE_MARKER, analysis_uri, fetch_directory, publish_directory, publish_file

FILES = {"faces.npz": b"f" * 3000, "atlas/crops.npy": b"c" * 20000, "atlas/meta.npz": b"m" * 500}
PHASE_GAP_S = 1.5  # S3 listings give times to the second: leave more than that between phases


@pytest.fixture(autouse=True)
def node_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "node-cache"
    monkeypatch.setenv("LIPDUB_NODE_CACHE", str(cache))
    return cache


@pytest.fixture(params=["local", "s3"])
def roots(request, tmp_path) -> tuple[str, str]:
    """(work_root, output_root)."""
    if request.param == "local":
        return str(tmp_path / "work"), str(tmp_path / "out")
    request.getfixturevalue("s3_server")
    return "s3://lipdub/work", "s3://lipdub/out"


def publish_analysis(work_root: str, key: str) -> str:
    uri = analysis_uri(work_root, key)
    with publish_directory(uri) as staging:
        for name, data in FILES.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(data)
    return uri


def write_file(uri: str, data: bytes) -> None:
    with publish_file(uri) as staging:
        Path(staging).write_bytes(data)


def item_row(work_root: str, item: str, key: str, status: str = "ok") -> dict:
    """A result row naming its analysis and work dir as the pipeline's rows do."""
    directory = analysis_uri(work_root, key)
    return empty_row(item_id=item, status=status, analysis_uri=join_uri(directory, "faces.npz"),
                     atlas_uri=join_uri(directory, "atlas"), work_dir=join_uri(work_root, "items", item))


def record_run(state_root: str, run_id: str, rows: list[dict], *, finished: bool) -> None:
    """A run's records; unfinished: its parts only, as a driver killed mid-run (or still going) leaves them."""
    writer = ResultsWriter(state_root, run_id, flush_rows=1)
    for row in rows:
        writer.add(row)
    if finished:
        writer.close(catalog_uri="catalog", pending=[], wall_seconds=1.0, plan_reasons={})


def item_work_dir(work_root: str, item: str) -> None:
    write_file(join_uri(work_root, "items", item, "plan.npz"), b"p" * 700)
    write_file(join_uri(work_root, "items", item, "segments", "00000.mp4"), b"s" * 4000)


def listing(uri: str) -> dict[str, int]:
    fs = filesystem_for(uri)
    base = fs._strip_protocol(uri).rstrip("/")
    fs.invalidate_cache()
    if not fs.exists(base):
        return {}
    return {path[len(base) + 1:]: info["size"] for path, info in fs.find(base, detail=True).items()}


@dataclass
class Store:
    work_root: str
    output_root: str
    t_mid: float

    @property
    def state_root(self) -> str:
        return join_uri(self.output_root, STATE_DIR)

    def window(self) -> dict[str, float]:
        """gc ages that end the window between the old and the recent phase."""
        age = time.time() - self.t_mid
        return {"older_than_days": age / 86400, "temp_age_hours": age / 3600}


def build_store(work_root: str, output_root: str, node_cache: Path) -> Store:
    state_root = join_uri(output_root, STATE_DIR)
    remote = work_root.startswith("s3://")
    # --- the old phase ---
    for key in ("old", "orphan", "pinned", "reused"):
        publish_analysis(work_root, key)
    write_file(join_uri(analysis_uri(work_root, "speech-old"), "source_speech.npz"), b"v" * 900)
    for item in ("old-item", "running-item"):
        item_work_dir(work_root, item)
    record_run(state_root, "run-old", [item_row(work_root, "old-item", "old"), item_row(work_root, "r-item", "reused")], finished=True)
    # A run going on beside gc (or crashed): records without a summary; what it names must stay.
    record_run(state_root, "run-going", [item_row(work_root, "running-item", "pinned")], finished=False)
    if remote:
        fs = filesystem_for(work_root)
        base = fs._strip_protocol(analysis_uri(work_root, "pinned"))
        fs.pipe_file(f"{base}/v-00000000000000aa/faces.npz", b"loser" * 100)  # lost the race, then crashed
        fs.pipe_file(fs._strip_protocol(analysis_uri(work_root, "crashed")) + "/v-00000000000000bb/faces.npz", b"half" * 100)
    else:
        staging = Path(work_root, "analysis", ".crashed.tmp-0123abcd")
        (staging / "atlas").mkdir(parents=True)
        (staging / "faces.npz").write_bytes(b"half" * 100)
        Path(output_root, "de").mkdir(parents=True)
        Path(output_root, "de", ".clip.mp4.partial-abcd_123.mp4").write_bytes(b"x" * 5000)
    (node_cache / ("f" * 20)).mkdir(parents=True)  # a copy of some other store's analysis
    (node_cache / ("f" * 20) / "faces.npz").write_bytes(b"o" * 800)
    (node_cache / ".publish-deadbeef").mkdir()  # a publisher that died while staging
    (node_cache / ".publish-deadbeef" / "faces.npz").write_bytes(b"d" * 600)
    time.sleep(PHASE_GAP_S)
    t_mid = time.time()
    time.sleep(PHASE_GAP_S)
    # --- the recent phase ---
    publish_analysis(work_root, "recent")
    item_work_dir(work_root, "recent-item")
    item_work_dir(work_root, "in-flight-item")  # an item of the running run, not recorded yet
    record_run(state_root, "run-recent", [item_row(work_root, "recent-item", "recent")], finished=True)
    touch_last_used(analysis_uri(work_root, "reused"))  # the analyze stage reused it just now
    if not remote:
        Path(output_root, "de", ".clip2.mp4.partial-efgh_456.mp4").write_bytes(b"y" * 300)  # a writer at work
    return Store(work_root, output_root, t_mid)


def test_gc_removes_what_no_run_needs_and_keeps_the_rest(roots, node_cache, tmp_path, monkeypatch):
    work_root, output_root = roots
    store = build_store(work_root, output_root, node_cache)
    remote = work_root.startswith("s3://")
    work_before, out_before = listing(work_root), listing(output_root)
    cache_before = sorted(path.name for path in node_cache.iterdir())
    node_bytes_before = node_bytes(node_cache)

    dry = collect_garbage(work_root, output_root, dry_run=True, **store.window())
    assert listing(work_root) == work_before and listing(output_root) == out_before
    assert sorted(path.name for path in node_cache.iterdir()) == cache_before

    summary = collect_garbage(work_root, output_root, **store.window())
    removed = {kind: tally.entries for kind, tally in summary.removed.items()}
    assert removed == {kind: tally.entries for kind, tally in dry.removed.items()}  # the dry run said so
    assert removed == {
        "analyses": 3,  # old, orphan, speech-old
        # The publisher kept its staging folder as this node's copy of old and orphan (remote).
        "node_cache": 3 if remote else 1,
        "publisher_leftovers": 2 if remote else 0,  # pinned's losing version; crashed's upload
        "item_work_dirs": 1,  # old-item
        "temporaries": 1 if remote else 3,  # node .publish- folder (+ local staging dir, .partial)
    }
    assert (summary.runs_finished_in_window, summary.runs_unfinished, summary.runs_finished_before) == (1, 1, 1)

    # The bytes reported are the bytes that left the store and this node.
    work_after, out_after = listing(work_root), listing(output_root)
    left = sum(work_before.values()) + sum(out_before.values()) + node_bytes_before - sum(work_after.values()) - sum(out_after.values()) - node_bytes(node_cache)
    assert left == summary.bytes > 0

    keys = {path.split("/")[1] for path in work_after if path.startswith("analysis/")}
    assert keys == {"pinned", "reused", "recent"}
    assert {path.split("/")[1] for path in work_after if path.startswith("items/")} == {"running-item", "recent-item", "in-flight-item"}
    assert {path for path in out_after if "/runs/" in path} == {path for path in out_before if "/runs/" in path}  # records intact
    if remote:
        assert not any("v-00000000000000aa" in path for path in work_after)
    else:
        assert [path for path in out_after if "partial" in path] == ["de/.clip2.mp4.partial-efgh_456.mp4"]
    assert not (node_cache / ".publish-deadbeef").exists() and not (node_cache / ("f" * 20)).exists()

    # What stays is whole and readable, also from a node that never saw it.
    monkeypatch.setenv("LIPDUB_NODE_CACHE", str(tmp_path / "node-b"))
    for key in ("pinned", "reused", "recent"):
        assert (fetch_directory(analysis_uri(work_root, key)) / "atlas" / "crops.npy").read_bytes() == FILES["atlas/crops.npy"]

    again = collect_garbage(work_root, output_root, **store.window())
    assert again.files == 0  # nothing left to collect


def node_bytes(node_cache: Path) -> int:
    return sum(path.stat().st_size for path in node_cache.rglob("*") if path.is_file())


def test_unreadable_records_of_an_unfinished_run_stop_gc_before_it_removes_anything(tmp_path):
    work_root, output_root = str(tmp_path / "work"), str(tmp_path / "out")
    publish_analysis(work_root, "orphan")
    run = Path(output_root, STATE_DIR, "runs", "run-going")
    run.mkdir(parents=True)
    (run / "part-00000.parquet").write_bytes(b"not parquet")
    before = listing(work_root)
    with pytest.raises(RunRecordsUnreadable, match="part-00000.parquet"):
        collect_garbage(work_root, output_root, older_than_days=0, temp_age_hours=0)
    assert listing(work_root) == before

    result = CliRunner().invoke(app, ["gc", "--older-than", "0", "--temp-age-hours", "0", "--work-root", work_root, "--output-root", output_root])
    assert result.exit_code == 3 and "cannot read the run records" in result.output
    assert listing(work_root) == before


def test_the_command_line_reports_per_kind_and_dry_run_removes_nothing(tmp_path):
    import json

    work_root, output_root = str(tmp_path / "work"), str(tmp_path / "out")
    publish_analysis(work_root, "orphan")
    args = ["gc", "--older-than", "0", "--temp-age-hours", "0", "--work-root", work_root, "--output-root", output_root]
    dry = CliRunner().invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.output[dry.output.index("{"):])
    marker_bytes = len(b"ok\n")
    assert report["dry_run"] and report["removed"]["analyses"] == {"entries": 1, "files": 4, "bytes": sum(map(len, FILES.values())) + marker_bytes}
    assert Path(analysis_uri(work_root, "orphan"), COMPLETE_MARKER).exists()

    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0 and json.loads(done.output[done.output.index("{"):])["files"] == 4
    assert not Path(analysis_uri(work_root, "orphan")).exists()


def test_a_reuse_stamps_the_analysis_beside_its_files(roots):
    work_root, _ = roots
    uri = publish_analysis(work_root, "k")
    touch_last_used(uri)
    assert LAST_USED_FILE in listing(uri)
    assert (fetch_directory(uri) / "faces.npz").read_bytes() == FILES["faces.npz"]  # readers do not mind it


def test_the_run_start_sweep_takes_only_stale_temporaries(tmp_path, node_cache):
    out = tmp_path / "out" / "de"
    out.mkdir(parents=True)
    stale, fresh, finished = out / ".a.mp4.partial-k2j4_x9q.mp4", out / ".b.mp4.partial-z8y7_w6v.mp4", out / "c.mp4"
    for path in (stale, fresh, finished):
        path.write_bytes(b"z" * 100)
    two_days_ago = time.time() - 2 * 86400
    os.utime(stale, (two_days_ago, two_days_ago))
    os.utime(finished, (two_days_ago, two_days_ago))
    tally = sweep_stale_temporaries(str(tmp_path / "out"), None, "s3://never-listed/work")
    assert (tally.entries, tally.bytes) == (1, 100)
    assert not stale.exists() and fresh.exists() and finished.exists()
