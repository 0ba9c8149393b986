"""A result row's values as the report shows them: numbers or blanks, reasons, review flag, times.

Why one place: the table and the item sections must agree on what a blank, a NaN or an
unparsable JSON column shows, and rows come from runs of many versions.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from lipdub.item_row import STAGES

#: Statuses a row can have, in the order the report lists them.
STATUSES: tuple[str, ...] = ("ok", "failed", "skipped", "pending")
BLANK = "\u2014"  # em dash: a value the row does not have


def number(value: Any) -> float | None:
    """A finite float, or None for null, NaN, infinities and anything not numeric."""
    if value is None or isinstance(value, bool):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def fixed(value: Any, digits: int) -> str:
    result = number(value)
    return BLANK if result is None else f"{result:.{digits}f}"


def percent(value: Any) -> str:
    result = number(value)
    return BLANK if result is None else f"{100 * result:.0f}%"


def status_of(row: dict[str, Any]) -> str:
    return str(row.get("status") or "pending")


def needs_review_label(row: dict[str, Any]) -> str:
    """"yes", "no", or "unknown" (not measured: failed, pending, old runs)."""
    flag = row.get("needs_review")
    return "unknown" if flag is None else "yes" if flag else "no"


def review_reasons(row: dict[str, Any]) -> list[str]:
    """The row's review reasons (a JSON list); text that is not one comes back as one reason."""
    raw = row.get("review_reasons")
    if not raw:
        return []
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        return [str(raw)]
    if isinstance(parsed, list):
        return [str(reason) for reason in parsed]
    return [str(parsed)]


def qa_figures(row: dict[str, Any]) -> dict[str, Any]:
    """Every QA figure of the row (its ``qa_figures`` JSON object), or {}."""
    raw = row.get("qa_figures")
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        return {"qa_figures (unparsable)": str(raw)}
    return parsed if isinstance(parsed, dict) else {"qa_figures": parsed}


def figure_text(value: Any) -> str:
    """One QA figure for people: numbers to 4 significant digits, the rest as JSON."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def total_seconds(row: dict[str, Any]) -> float | None:
    """Seconds the item spent in all stages, or None when no stage recorded any."""
    seconds = [number(row.get(f"seconds_{stage}")) for stage in STAGES]
    known = [value for value in seconds if value is not None]
    return sum(known) if known else None


def fps_of(row: dict[str, Any]) -> float | None:
    num, den = number(row.get("fps_num")), number(row.get("fps_den"))
    return num / den if num and den else None


def when(timestamp: Any) -> str:
    """An ISO 8601 time as people read it (UTC, to the second); other text as it is."""
    text = str(timestamp)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"
