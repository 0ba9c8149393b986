"""`jobs.report.run_report`, what the `lipdub report` command calls."""
from __future__ import annotations

import json

from jobs.report import run_report
from tests.lipdub.report.run_fixtures import REVIEW_ID, build_run


def test_run_report_writes_the_page_and_says_what_it_holds(tmp_path):
    rows = build_run(str(tmp_path / "runs" / "run-1"), str(tmp_path / "work"))
    out = tmp_path / "reports" / "run-1.html"
    result = run_report(str(tmp_path / "runs" / "run-1"), str(out))
    json.dumps(result)  # plain data, printable by the CLI
    assert result["out_uri"] == str(out) and result["size_bytes"] == out.stat().st_size > 0
    assert result["items"] == len(rows) and result["by_status"]["failed"] == 1 and result["needs_review"] == 1
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and REVIEW_ID in page
