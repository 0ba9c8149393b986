"""`write_report`: one static, offline HTML page for a run's results manifest.

The page has a run summary, a sortable and filterable table of all items, and a section per item
with its QA pictures and series. It links nothing (styles, script, images and plots are inline),
so it can be mailed, attached to a ticket or opened from object storage as it is.
"""
from __future__ import annotations

import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from html import escape
from typing import Any

from lipdub.report import fields
from lipdub.report.assets import SCRIPT, STYLE
from lipdub.report.item_section import item_section
from lipdub.report.plots import MAX_POINTS
from lipdub.report.sources import ItemDetails, load_all_details, read_rows, read_run_summary, results_file_uri
from lipdub.report.table import items_table
from lipdub.results import RESULTS_FILE, utc_now
from lipdub.storage import atomic_output

log = logging.getLogger(__name__)


@dataclass
class ReportSummary:
    """What `write_report` wrote: where, how big, and what the run held."""

    out_uri: str
    results_uri: str
    items: int
    by_status: dict[str, int] = field(default_factory=dict)
    needs_review: int = 0
    details_missing: int = 0  # items whose QA details could not be shown (none recorded or unreadable)
    size_bytes: int = 0
    seconds: float = 0.0
    run_finished: bool = True  # False: made from the result parts of a run that did not finish
    note: str | None = None  # why the report may be incomplete (see `RunResults.note`)


def run_title(results_uri: str) -> str:
    """A short name for the run: its folder's name, or the manifest's file name."""
    manifest = results_file_uri(results_uri).rstrip("/")
    name = manifest.rsplit("/", 1)[-1] if "/" in manifest else manifest
    if name == RESULTS_FILE:
        parent = manifest[: -len(name)].rstrip("/")
        return parent.rsplit("/", 1)[-1] or name
    return name


def _summary_header(title: str, results_uri: str, rows: list[dict[str, Any]], run_summary: dict[str, Any] | None,
                    generated_at: str, unfinished_note: str | None = None) -> str:
    counts = Counter(fields.status_of(row) for row in rows)
    statuses = list(fields.STATUSES) + sorted(set(counts) - set(fields.STATUSES))
    review = sum(fields.needs_review_label(row) == "yes" for row in rows)
    pills = [f'<li class="count-items">items<b>{len(rows)}</b></li>']
    pills += [f'<li class="count-{escape(status)} status-{escape(status)}">{escape(status)}<b>{counts.get(status, 0)}</b></li>'
              for status in statuses]
    pills.append(f'<li class="count-review review-yes">needs review<b>{review}</b></li>')
    finished = sorted(str(row["finished_at"]) for row in rows if row.get("finished_at"))
    timing = [f"items finished {fields.when(finished[0])} \u2013 {fields.when(finished[-1])}" if finished else "no item finished"]
    if run_summary:
        wall = fields.number(run_summary.get("wall_seconds"))
        if wall is not None:
            timing.append(f"run took {wall:.0f} s")
        if run_summary.get("interrupted"):
            timing.append("the run was interrupted")
    timing.append(f"report written {fields.when(generated_at)}")
    return (
        f'<header id="summary"><h1>lipdub report: {escape(title)}</h1>'
        f'<p class="run-meta">results <code>{escape(results_uri)}</code></p>'
        + (f'<p class="run-warning" id="run-unfinished">{escape(unfinished_note)}</p>' if unfinished_note else "")
        + f'<ul class="counts">{"".join(pills)}</ul>'
        f'<p class="run-meta when">{escape(" · ".join(timing))}</p></header>'
    )


def _controls() -> str:
    options = "".join(f'<option value="{status}">{status}</option>' for status in ("all",) + fields.STATUSES)
    return (
        '<div class="controls">'
        '<input id="filter" type="search" placeholder="filter rows by any text" aria-label="filter rows">'
        f'<label>status <select id="status-filter">{options}</select></label>'
        '<label><input id="review-only" type="checkbox"> needs review only</label>'
        '<span id="shown-count"></span></div>'
    )


def render_page(rows: list[dict[str, Any]], details: list[ItemDetails], *, title: str, results_uri: str,
                run_summary: dict[str, Any] | None = None, generated_at: str | None = None,
                max_points: int = MAX_POINTS, unfinished_note: str | None = None) -> str:
    """The report's HTML for ``rows`` and their ``details`` (same order); ``unfinished_note``, when
    given, is shown in the header (the run did not finish: the rows may not be all its items)."""
    if len(details) != len(rows):
        raise ValueError(f"{len(rows)} rows but {len(details)} details")
    sections = "".join(item_section(index, row, loaded, max_points=max_points)
                       for index, (row, loaded) in enumerate(zip(rows, details)))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>lipdub report: {escape(title)}</title><style>{STYLE}</style></head><body>"
        + _summary_header(title, results_uri, rows, run_summary, generated_at or utc_now(), unfinished_note)
        + f'<section id="table-section">{_controls()}<div class="table-wrap">{items_table(rows)}</div></section>'
        + f'<main id="item-sections">{sections}</main>'
        + f"<script>{SCRIPT}</script></body></html>\n"
    )


def write_report(results_uri: str, out_path: str) -> ReportSummary:
    """Write the HTML report of the run at ``results_uri`` (a results.parquet or the run folder
    holding one, or the folder of a run that did not finish and left only result parts; local or
    any fsspec URI) to ``out_path`` (local or any fsspec URI)."""
    started = time.monotonic()
    rows = read_rows(results_uri)
    details = load_all_details(rows)
    page = render_page(rows, details, title=run_title(results_uri), results_uri=results_uri,
                       run_summary=read_run_summary(results_uri), unfinished_note=rows.note)
    data = page.encode("utf-8")
    with atomic_output(out_path, suffix=".html") as temporary, open(temporary, "wb") as handle:
        handle.write(data)
    summary = ReportSummary(
        out_uri=os.fspath(out_path), results_uri=results_uri, items=len(rows),
        by_status=dict(Counter(fields.status_of(row) for row in rows)),
        needs_review=sum(fields.needs_review_label(row) == "yes" for row in rows),
        details_missing=sum(loaded.details is None for loaded in details),
        size_bytes=len(data), seconds=round(time.monotonic() - started, 3), run_finished=rows.finished, note=rows.note,
    )
    log.info("report of %d items (%d need review) written to %s (%.1f MB)", summary.items, summary.needs_review,
             summary.out_uri, summary.size_bytes / 1e6)
    return summary
