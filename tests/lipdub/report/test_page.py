from __future__ import annotations

from collections import defaultdict
from html.parser import HTMLParser

import pytest

from lipdub.report import render_page, write_report
from lipdub.report.table import COLUMNS
from lipdub.storage import open_uri
from tests.lipdub.report.run_fixtures import (GONE_ID, MALICIOUS_ERROR, MALICIOUS_ID, OK_ID, PENDING_ID,
                                              REVIEW_ID, REVIEW_REASONS, SKIPPED_ID, build_run)


class _Page(HTMLParser):
    """Elements (tag, attributes, the item section they are in) and each item section's text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str], str | None]] = []
        self.section_text: dict[str, str] = defaultdict(str)
        self._section: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        if tag == "section" and attributes.get("class") == "item":
            self._section = attributes["data-item-id"]
        self.elements.append((tag, attributes, self._section))

    def handle_endtag(self, tag):
        if tag == "section":
            self._section = None

    def handle_data(self, data):
        if self._section is not None:
            self.section_text[self._section] += data

    def find(self, tag: str, css_class: str | None = None, section: str | None = None) -> list[dict[str, str]]:
        return [attrs for name, attrs, where in self.elements
                if name == tag and (css_class is None or css_class in attrs.get("class", "").split())
                and (section is None or where == section)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("report-run")
    rows = build_run(str(root / "runs" / "run-1"), str(root / "work"))
    return root, rows


@pytest.fixture(scope="module")
def report(run):
    root, _ = run
    out = root / "out" / "report.html"
    summary = write_report(str(root / "runs" / "run-1"), str(out))
    return summary, out.read_text(encoding="utf-8")


def test_every_item_has_a_table_row_and_a_section(run, report):
    _, rows = run
    summary, html = report
    page = _Page(html)
    table_rows = page.find("tr", "item-row")
    assert len(table_rows) == len(rows) == summary.items == 6
    assert {row["data-status"] for row in table_rows} == {"ok", "failed", "pending", "skipped"}
    assert [row["data-needs-review"] for row in table_rows].count("yes") == 1
    sections = page.find("section", "item")
    assert sorted(s["data-item-id"] for s in sections) == sorted(rows)
    # Each id in the table links to its section.
    links = [a["href"] for name, a, where in page.elements if name == "a" and where is None and a.get("href", "").startswith("#item-")]
    assert sorted(links) == sorted(f"#{s['id']}" for s in sections)
    assert len(page.find("th")) == len(COLUMNS)
    assert summary.by_status == {"ok": 3, "failed": 1, "pending": 1, "skipped": 1}
    assert summary.needs_review == 1 and summary.details_missing == 4


def test_page_is_self_contained(report):
    _, html = report
    page = _Page(html)
    assert len(page.find("script")) == 1 and not page.find("script")[0].get("src")
    assert not page.find("link")
    images = page.find("img")
    assert images and all(img["src"].startswith("data:image/jpeg;base64,") for img in images)
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html
    assert len(html) < 1_000_000


def test_details_show_thumbnails_sheet_and_plot(report):
    _, html = report
    page = _Page(html)
    for item in (OK_ID, REVIEW_ID):
        assert len(page.find("img", "thumb-before", item)) == 3 and len(page.find("img", "thumb-after", item)) == 3
        assert len(page.find("figure", "mouth-sheet", item)) == 1
        assert page.find("svg", "series-plot", item) and page.find("polyline", "series-opening", item)
    text = page.section_text[REVIEW_ID]
    assert all(reason in text for reason in REVIEW_REASONS) and "needs review" in text
    assert "frame 750 \u00b7 30.00 s" in text


def test_malicious_strings_are_escaped(report):
    _, html = report
    assert MALICIOUS_ID not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "<b>bold</b>" not in html and "<b>odd</b>" not in html
    assert "<i>not markup</i>" not in html
    page = _Page(html)
    assert len(page.find("script")) == 1
    assert [img for img in page.find("img") if img["src"] == "x"] == []


def test_failed_item_shows_its_stage_and_whole_error(report):
    _, html = report
    page = _Page(html)
    text = page.section_text[MALICIOUS_ID]
    assert "failed at stage analyze" in text
    assert MALICIOUS_ERROR in text  # both lines, unescaped back to the original by the parser
    assert page.find("pre", "error", MALICIOUS_ID)


def test_items_without_readable_details_still_get_a_section(report):
    _, html = report
    page = _Page(html)
    assert "QA details missing: cannot read" in page.section_text[GONE_ID]
    assert not page.find("img", section=GONE_ID) and not page.find("svg", section=GONE_ID)
    assert "not finished" in page.section_text[PENDING_ID]
    assert "no QA details recorded (the item is skipped)" in page.section_text[SKIPPED_ID]


def test_numeric_cells_sort_by_their_raw_value(report):
    _, html = report
    page = _Page(html)
    headers = [th for th in page.find("th")]
    sync_column = [c.header for c in COLUMNS].index("sync r")
    assert headers[sync_column]["data-type"] == "number" and headers[0]["data-type"] == "text"
    numeric = [td["data-sort"] for td in page.find("td", "num")]
    assert "0.12" in numeric and "" in numeric  # the review item's sync r; blanks for the failed one


def test_manifest_file_and_run_folder_give_the_same_report(run, report, tmp_path):
    root, _ = run
    summary = write_report(str(root / "runs" / "run-1" / "results.parquet"), str(tmp_path / "report.html"))
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert summary.items == report[0].items and "lipdub report: run-1" in html
    assert len(_Page(html).find("tr", "item-row")) == 6
    assert "run took 42 s" in html and "the run was interrupted" in html  # from summary.json


def test_results_and_report_on_s3(s3_server, tmp_path):
    rows = build_run("s3://lipdub/runs/run-7", "s3://lipdub/work")
    summary = write_report("s3://lipdub/runs/run-7", "s3://lipdub/reports/run-7.html")
    assert summary.out_uri == "s3://lipdub/reports/run-7.html" and summary.items == len(rows)
    with open_uri("s3://lipdub/reports/run-7.html", "rb") as handle:
        page = _Page(handle.read().decode("utf-8"))
    assert len(page.find("img", "thumb-after", OK_ID)) == 3
    assert summary.details_missing == 4  # only the two ok items with details have them


def test_render_page_needs_details_for_every_row_and_handles_an_empty_run():
    with pytest.raises(ValueError):
        render_page([{"item_id": "a"}], [], title="t", results_uri="r")
    page = _Page(render_page([], [], title="empty", results_uri="r"))
    assert page.find("table") and not page.find("tr", "item-row") and not page.find("section", "item")
