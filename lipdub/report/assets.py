"""The report page's inline stylesheet and script (the page must work offline: nothing is linked).

The script sorts the items table by a clicked header (numbers numerically, blanks always last,
a second click reverses) and filters its rows by text, status and the review flag.
"""
from __future__ import annotations

STYLE = """
:root { --ok: #2e7d32; --failed: #c62828; --skipped: #757575; --pending: #ef6c00; --review: #8e24aa; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 24px 48px; color: #1d1d1d; }
h1 { font-size: 22px; margin: 18px 0 6px; }
h2 { font-size: 17px; margin: 0 0 6px; display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
header .run-meta { color: #555; margin: 2px 0; word-break: break-all; }
header .run-warning { color: #7a3d00; background: #fff3e0; border: 1px solid var(--pending); border-radius: 6px;
  padding: 6px 10px; margin: 8px 0; font-weight: 600; word-break: break-all; }
ul.counts { list-style: none; padding: 0; margin: 10px 0; display: flex; gap: 10px; flex-wrap: wrap; }
ul.counts li { border: 1px solid #ddd; border-radius: 6px; padding: 4px 10px; background: #fafafa; }
ul.counts b { font-size: 16px; margin-left: 4px; }
.controls { display: flex; gap: 14px; align-items: center; margin: 14px 0 8px; flex-wrap: wrap; }
.controls input[type=search] { width: 280px; padding: 4px 8px; }
#shown-count { color: #555; }
.table-wrap { overflow-x: auto; border: 1px solid #ddd; border-radius: 6px; max-height: 70vh; }
table#items { border-collapse: collapse; width: 100%; font-size: 13px; }
table#items th { position: sticky; top: 0; background: #f0f2f5; text-align: left; padding: 6px 8px; cursor: pointer;
  white-space: nowrap; user-select: none; border-bottom: 1px solid #ccc; }
table#items th[aria-sort=ascending]::after { content: " \\25B2"; font-size: 10px; }
table#items th[aria-sort=descending]::after { content: " \\25BC"; font-size: 10px; }
table#items td { padding: 4px 8px; border-bottom: 1px solid #eee; vertical-align: top; }
table#items td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table#items td.item-id { white-space: nowrap; }
table#items td.reasons { min-width: 220px; color: var(--review); }
table#items td.error { max-width: 320px; color: #8a1c1c; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
table#items tr.item-row:hover { background: #f7f9ff; }
.status { font-weight: 600; }
.status-ok { color: var(--ok); } .status-failed { color: var(--failed); }
.status-skipped { color: var(--skipped); } .status-pending { color: var(--pending); }
.review-yes { color: var(--review); font-weight: 600; }
.badge { font-size: 12px; border: 1px solid currentColor; border-radius: 10px; padding: 0 8px; font-weight: 600; }
.badge.review { color: var(--review); }
section.item { border-top: 2px solid #e3e3e3; padding: 16px 0 8px; margin-top: 16px; }
section.item .meta { color: #555; margin: 2px 0 8px; }
dl.uris { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 6px 0; color: #444; }
dl.uris dt { font-weight: 600; } dl.uris dd { margin: 0; word-break: break-all; }
.failure { border-left: 4px solid var(--failed); background: #fff5f5; padding: 6px 12px; margin: 8px 0; }
pre.error { white-space: pre-wrap; word-break: break-word; margin: 4px 0; }
ul.reasons { margin: 4px 0 8px; color: var(--review); }
.details-missing { border-left: 4px solid #bbb; background: #f6f6f6; padding: 6px 12px; margin: 8px 0; color: #444; }
.thumbs { display: flex; gap: 14px; flex-wrap: wrap; margin: 10px 0; }
figure { margin: 0; }
figure.thumb-pair .pair { display: flex; gap: 4px; }
figure.thumb-pair .side { display: flex; flex-direction: column; align-items: center; font-size: 11px; color: #555; }
figure.thumb-pair img { width: 200px; height: auto; border: 1px solid #ccc; display: block; }
figcaption { font-size: 12px; color: #555; text-align: center; margin-top: 2px; }
figure.mouth-sheet { margin: 10px 0; }
figure.mouth-sheet img { min-width: min(100%, 360px); max-width: 100%; height: auto; border: 1px solid #ccc; display: block; }
figure.mouth-sheet figcaption { text-align: left; }
.plot svg { max-width: 100%; height: auto; border: 1px solid #eee; background: #fff; }
details.figures table { border-collapse: collapse; font-size: 12px; margin: 4px 0; }
details.figures td { padding: 1px 10px 1px 0; border-bottom: 1px solid #f0f0f0; }
details.figures td:last-child { text-align: right; font-variant-numeric: tabular-nums; }
a.top { font-size: 12px; }
"""

SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("items");
  var body = table.tBodies[0];
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var filter = document.getElementById("filter");
  var statusFilter = document.getElementById("status-filter");
  var reviewOnly = document.getElementById("review-only");
  var shownCount = document.getElementById("shown-count");

  function rows() { return Array.prototype.slice.call(body.rows); }

  function applyFilters() {
    var text = filter.value.trim().toLowerCase();
    var status = statusFilter.value;
    var onlyReview = reviewOnly.checked;
    var visible = 0;
    rows().forEach(function (row) {
      var show = (!text || row.textContent.toLowerCase().indexOf(text) !== -1) &&
        (status === "all" || row.getAttribute("data-status") === status) &&
        (!onlyReview || row.getAttribute("data-needs-review") === "yes");
      row.hidden = !show;
      if (show) { visible += 1; }
    });
    shownCount.textContent = visible + " of " + body.rows.length + " items shown";
  }

  function sortKey(cell, numeric) {
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
    if (numeric) {
      var value = parseFloat(raw);
      return isNaN(value) ? null : value;
    }
    return raw === "" ? null : raw.toLowerCase();
  }

  function sortBy(header) {
    var column = header.cellIndex;
    var numeric = header.getAttribute("data-type") === "number";
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var keyed = rows().map(function (row, index) {
      return { row: row, key: sortKey(row.cells[column], numeric), index: index };
    });
    keyed.sort(function (a, b) {
      if (a.key === null || b.key === null) {  // blanks last, whichever the direction
        if (a.key === b.key) { return a.index - b.index; }
        return a.key === null ? 1 : -1;
      }
      var order = numeric ? a.key - b.key : a.key.localeCompare(b.key, undefined, { numeric: true });
      if (order === 0) { return a.index - b.index; }
      return ascending ? order : -order;
    });
    keyed.forEach(function (entry) { body.appendChild(entry.row); });
  }

  headers.forEach(function (header) {
    header.addEventListener("click", function () { sortBy(header); });
    header.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(header); }
    });
  });
  filter.addEventListener("input", applyFilters);
  statusFilter.addEventListener("change", applyFilters);
  reviewOnly.addEventListener("change", applyFilters);
  applyFilters();
})();
"""
