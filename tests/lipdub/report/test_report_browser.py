"""The written report as a person sees it, in headless Chromium: rows, pictures, plots, sorting
and filters work offline from a file:// URL, and a screenshot is kept as a test artifact."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lipdub.report import write_report
from tests.lipdub.report.run_fixtures import MALICIOUS_ID, OK_ID, REVIEW_ID, build_run

pytest.importorskip("websockets.sync.client", reason="the browser test drives Chromium with websockets>=13")
from tests.lipdub.report.cdp_client import CHROMIUM, headless_page  # noqa: E402 - needs websockets

# Every wait inside is bounded too; this is the backstop for a browser that wedges the test.
pytestmark = [pytest.mark.skipif(not CHROMIUM.exists(), reason=f"headless Chromium not installed at {CHROMIUM}"),
              pytest.mark.timeout(90)]

VISIBLE_ROW_IDS = """
Array.from(document.querySelectorAll('#items tr.item-row'))
  .filter(row => getComputedStyle(row).display !== 'none' && row.offsetParent !== null)
  .map(row => row.querySelector('td.item-id').textContent)
"""
ROW_IDS = "Array.from(document.querySelectorAll('#items tr.item-row')).map(row => row.querySelector('td.item-id').textContent)"


def _set_filter(page, value: str) -> None:
    page.evaluate(f"(() => {{ const box = document.getElementById('filter'); box.value = {json.dumps(value)};"
                  " box.dispatchEvent(new Event('input', {bubbles: true})); })()")


def _set_status(page, value: str) -> None:
    page.evaluate(f"(() => {{ const select = document.getElementById('status-filter'); select.value = {json.dumps(value)};"
                  " select.dispatchEvent(new Event('change', {bubbles: true})); })()")


def _click_header(page, text: str) -> None:
    page.evaluate("Array.from(document.querySelectorAll('#items th'))"
                  f".find(th => th.textContent === {json.dumps(text)}).click()")


def test_report_in_a_browser(tmp_path):
    rows = build_run(str(tmp_path / "runs" / "run-1"), str(tmp_path / "work"))
    out = tmp_path / "report.html"
    write_report(str(tmp_path / "runs" / "run-1"), str(out))
    artifacts = Path(os.environ.get("LIPDUB_TEST_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)

    with headless_page(tmp_path / "chromium-profile") as page:
        page.navigate(out.as_uri())

        assert sorted(page.evaluate(ROW_IDS)) == sorted(rows)
        images = page.evaluate("Array.from(document.querySelectorAll('img')).map(img => "
                               "({cls: img.className, ok: img.complete && img.naturalWidth > 0}))")
        assert len([image for image in images if image["cls"] == "thumb-before"]) == 6  # 3 pairs, 2 items
        assert all(image["ok"] for image in images), images
        assert page.evaluate("document.querySelectorAll('section.item svg.series-plot polyline.series-opening').length") >= 2
        plot_box = page.evaluate("(() => { const r = document.querySelector('svg.series-plot').getBoundingClientRect();"
                                 " return [r.width, r.height]; })()")
        assert plot_box[0] > 300 and plot_box[1] > 80
        # The before/after thumbnails of a pair sit side by side.
        pair = page.evaluate("(() => { const f = document.querySelector('figure.thumb-pair');"
                             " const a = f.querySelector('img.thumb-before').getBoundingClientRect();"
                             " const b = f.querySelector('img.thumb-after').getBoundingClientRect();"
                             " return [a.top, b.top, a.right <= b.left]; })()")
        assert abs(pair[0] - pair[1]) < 1 and pair[2]
        # The markup in the malicious id and error is shown as text, never run.
        assert page.evaluate("document.querySelectorAll('script').length") == 1
        assert page.evaluate("document.querySelectorAll('img[src=\"x\"], pre.error b').length") == 0
        assert MALICIOUS_ID in page.evaluate(ROW_IDS)

        _set_filter(page, "review")
        assert page.evaluate(VISIBLE_ROW_IDS) == [REVIEW_ID]
        _set_filter(page, "")
        assert sorted(page.evaluate(VISIBLE_ROW_IDS)) == sorted(rows)

        _set_status(page, "failed")
        assert page.evaluate(VISIBLE_ROW_IDS) == [MALICIOUS_ID]
        _set_status(page, "ok")
        assert len(page.evaluate(VISIBLE_ROW_IDS)) == 3
        page.evaluate("document.getElementById('review-only').click()")
        assert page.evaluate(VISIBLE_ROW_IDS) == [REVIEW_ID]
        assert page.evaluate("document.getElementById('shown-count').textContent") == f"1 of {len(rows)} items shown"
        page.evaluate("document.getElementById('review-only').click()")
        _set_status(page, "all")

        before = page.evaluate(ROW_IDS)
        _click_header(page, "sync r")
        ascending = page.evaluate(ROW_IDS)
        assert ascending != before
        assert ascending[:3] == [REVIEW_ID, "clip-details-gone", OK_ID]  # 0.12, 0.55, 0.71; blanks last
        _click_header(page, "sync r")
        assert page.evaluate(ROW_IDS)[:3] == [OK_ID, "clip-details-gone", REVIEW_ID]

        errors = [event for event in page.events
                  if event.get("method") in ("Runtime.exceptionThrown", "Page.javascriptDialogOpening")]
        assert not errors, errors
        screenshot = page.screenshot(artifacts / "report.png")
    data = screenshot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
