"""The report's table of all items: one ``tr.item-row`` per result row, sortable and filterable.

Numeric cells carry their raw value in ``data-sort`` so the page's script sorts by the number, not
its rounded text; rows carry ``data-status`` and ``data-needs-review`` for the filters.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

from lipdub.report import fields

#: Characters of an error shown in the table (the item's section shows all of it).
ERROR_PREVIEW_CHARS = 160


@dataclass(frozen=True)
class Column:
    header: str
    tooltip: str
    value: Callable[[dict[str, Any]], Any]
    text: Callable[[Any], str] | None = None  # numeric columns: how the number is shown

    @property
    def numeric(self) -> bool:
        return self.text is not None


def _digits(count: int) -> Callable[[Any], str]:
    return lambda value: fields.fixed(value, count)


COLUMNS: tuple[Column, ...] = (
    Column("item", "catalog item id (links to its section)", lambda row: row.get("item_id")),
    Column("language", "dub language", lambda row: row.get("language")),
    Column("status", "ok | failed | skipped | pending", fields.status_of),
    Column("review", "whether the QA gate asks a person to look", fields.needs_review_label),
    Column("reasons", "why the QA gate asks for review", lambda row: ", ".join(fields.review_reasons(row))),
    Column("sync r", "correlation of the output's mouth opening with the dub's loudness (syllable rate, as shown: zero offset)",
           lambda row: row.get("qa_sync_corr"), _digits(2)),
    Column("A/V offset", "best-matching lag (frames) of the output's mouth behind the dub", lambda row: row.get("qa_av_offset_frames"), _digits(1)),
    Column("PSNR out dB", "PSNR outside the lower face, output vs source (dB)", lambda row: row.get("qa_outside_psnr_db"), _digits(1)),
    Column("seam", "extra edge energy on the blend rim against the source (0 = none)", lambda row: row.get("qa_seam_score"), _digits(3)),
    Column("flicker", "output flicker relative to the source's", lambda row: row.get("qa_flicker_ratio"), _digits(2)),
    Column("speaker found", "share of frames where the speaker's face was found",
           lambda row: row.get("speaker_found_share"), fields.percent),
    Column("edited", "share of output frames the renderer changed", lambda row: row.get("qa_edited_share"), fields.percent),
    Column("seconds", "time in all stages", fields.total_seconds, _digits(1)),
    Column("error", "the item's error message (see its section for all of it)", lambda row: row.get("error")),
)


def anchor_id(index: int) -> str:
    """The id of the index-th item's section (indices, not item ids: those may hold any text)."""
    return f"item-{index}"


def _cell(column: Column, row: dict[str, Any], index: int) -> str:
    value = column.value(row)
    if column.numeric:
        raw = fields.number(value)
        sort = "" if raw is None else repr(raw)
        return f'<td class="num" data-sort="{sort}">{escape(column.text(value))}</td>'
    text = "" if value is None else str(value)
    if column.header == "item":
        return f'<td class="item-id"><a href="#{anchor_id(index)}">{escape(text)}</a></td>'
    if column.header == "status":
        return f'<td class="status status-{escape(text)}">{escape(text)}</td>'
    if column.header == "review":
        shown = {"yes": "yes", "no": "no"}.get(text, fields.BLANK)
        return f'<td class="review-{escape(text)}" data-sort="{escape(text if text != "unknown" else "")}">{shown}</td>'
    if column.header == "reasons":
        return f'<td class="reasons">{escape(text)}</td>'
    if column.header == "error":
        first_line = text.strip().splitlines()[0] if text.strip() else ""
        preview = first_line if len(first_line) <= ERROR_PREVIEW_CHARS else first_line[: ERROR_PREVIEW_CHARS - 1] + "\u2026"
        return f'<td class="error" title="{escape(text)}">{escape(preview)}</td>'
    return f"<td>{escape(text)}</td>"


def items_table(rows: list[dict[str, Any]]) -> str:
    """``<table id="items">`` with a header per column and a row per item, in ``rows`` order."""
    head = "".join(
        f'<th scope="col" tabindex="0" data-type="{"number" if column.numeric else "text"}" title="{escape(column.tooltip)}">'
        f"{escape(column.header)}</th>"
        for column in COLUMNS
    )
    body = []
    for index, row in enumerate(rows):
        cells = "".join(_cell(column, row, index) for column in COLUMNS)
        body.append(f'<tr class="item-row" data-item="{anchor_id(index)}" data-status="{escape(fields.status_of(row))}" '
                    f'data-needs-review="{fields.needs_review_label(row)}">{cells}</tr>')
    return f'<table id="items"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
