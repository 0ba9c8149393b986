"""`jobs.report.run_report`, what the `lipdub report` command calls."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from jobs.report import run_report
from lipdub.item_row import empty_row
from tests.killed_driver import kill_driver_after_recording
from tests.lipdub.report.run_fixtures import REVIEW_ID, build_run, make_details, write_details

ROOT = Path(__file__).resolve().parents[2]


def test_run_report_writes_the_page_and_says_what_it_holds(tmp_path):
    rows = build_run(str(tmp_path / "runs" / "run-1"), str(tmp_path / "work"))
    out = tmp_path / "reports" / "run-1.html"
    result = run_report(str(tmp_path / "runs" / "run-1"), str(out))
    json.dumps(result)  # plain data, printable by the CLI
    assert result["out_uri"] == str(out) and result["size_bytes"] == out.stat().st_size > 0
    assert result["items"] == len(rows) and result["by_status"]["failed"] == 1 and result["needs_review"] == 1
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and REVIEW_ID in page


def _lipdub(*args: str) -> subprocess.CompletedProcess[str]:
    """The `lipdub` command as a user runs it, in its own process."""
    return subprocess.run([sys.executable, "-c", "from jobs.cli import app; app(prog_name='lipdub')", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_lipdub_report_on_a_run_whose_driver_was_killed(tmp_path):
    qa = str(tmp_path / "work" / "clip-a" / "qa.npz")
    write_details(make_details(60, n_thumbs=2), qa)
    rows = [empty_row(item_id="clip-a", status="ok", qa_uri=qa, n_output_frames=60, fps_num=25, fps_den=1),
            empty_row(item_id="clip-b", status="failed", failed_stage="analyze", error="no face found")]
    run = kill_driver_after_recording(str(tmp_path / "state"), "run-killed", rows)
    out = tmp_path / "report.html"

    done = _lipdub("report", str(run), "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    printed = json.loads(done.stdout)
    assert printed["run_finished"] is False and "did not finish" in printed["note"]
    assert printed["items"] == 2 and printed["by_status"] == {"ok": 1, "failed": 1} and printed["details_missing"] == 1
    assert any("WARNING" in line and "did not finish" in line for line in done.stderr.splitlines()), done.stderr
    page = out.read_text(encoding="utf-8")
    assert 'id="run-unfinished"' in page and "the run did not finish" in page and "no face found" in page
    assert "data:image/jpeg;base64," in page  # clip-a's QA pictures, read through its part's row


def test_a_finished_run_has_no_unfinished_line(tmp_path):
    build_run(str(tmp_path / "runs" / "run-1"), str(tmp_path / "work"))
    result = run_report(str(tmp_path / "runs" / "run-1"), str(tmp_path / "report.html"))
    assert result["run_finished"] is True and result["note"] is None
    assert "run-unfinished" not in (tmp_path / "report.html").read_text(encoding="utf-8")
