"""What a report reads: the run's result rows, its summary when there is one, each item's QA details.

A run whose driver was killed has no manifest and no summary, only result parts: the report is
made from those, and says that the run did not finish.

Why so forgiving: a report is often made long after the run, when work stores have been cleaned
or the run was an old one without QA details; every item must still get its section, saying what
is missing, rather than the whole report failing.
"""
from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from lipdub.qa.details import QADetails
from lipdub.results import RESULTS_FILE, SUMMARY_FILE, RunResults, read_results
from lipdub.storage import is_local, join_uri, open_uri

log = logging.getLogger(__name__)

#: Details files read at once (they are on object storage for catalog runs: latency, not CPU).
READ_WORKERS = 8


@dataclass
class ItemDetails:
    """An item's QA details, or why there are none (``problem``, for people to read)."""

    details: QADetails | None
    problem: str | None = None


def results_file_uri(uri: str) -> str:
    """The results manifest's URI from itself or from the run folder that holds it."""
    return uri if uri.endswith(".parquet") else join_uri(uri, RESULTS_FILE)


def _folder_of(uri: str) -> str:
    return os.path.dirname(uri) if is_local(uri) else uri.rsplit("/", 1)[0]


def read_rows(results_uri: str) -> RunResults:
    """The run's rows; from its result parts (``finished`` False) when it has no manifest."""
    return read_results(results_uri)


def read_run_summary(results_uri: str) -> dict[str, Any] | None:
    """The run's summary.json beside its results manifest, or None (absent, unreadable)."""
    summary_uri = join_uri(_folder_of(results_file_uri(results_uri)), SUMMARY_FILE)
    try:
        with open_uri(summary_uri, "rb") as handle:
            summary = json.loads(handle.read())
    except (OSError, ValueError) as error:
        log.debug("no run summary at %s (%s)", summary_uri, error)
        return None
    return summary if isinstance(summary, dict) else None


def load_details(row: dict[str, Any]) -> ItemDetails:
    """The QA details at the row's ``qa_uri``; never raises."""
    uri = row.get("qa_uri")
    if not uri:
        status = row.get("status") or "pending"
        if status == "ok":
            return ItemDetails(None, "no QA details were recorded for this item (run made before QA details existed?)")
        return ItemDetails(None, f"no QA details recorded (the item is {status})")
    try:
        with open_uri(uri, "rb") as handle:
            return ItemDetails(QADetails.from_npz(handle))
    # Storage clients and numpy raise many types (FileNotFoundError, botocore errors,
    # BadZipFile, KeyError for a missing array): any of them means "details unavailable".
    except Exception as error:  # noqa: BLE001
        log.warning("QA details of %s unreadable at %s: %s: %s", row.get("item_id"), uri, error.__class__.__name__, error)
        return ItemDetails(None, f"QA details missing: cannot read {uri} ({error.__class__.__name__}: {error})")


def load_all_details(rows: list[dict[str, Any]], workers: int = READ_WORKERS) -> list[ItemDetails]:
    """`load_details` of every row, in row order, a few at a time."""
    if not rows:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(rows)))) as pool:
        return list(pool.map(load_details, rows))
