"""`lipdub report RESULTS_URI --out report.html`: the run's results as one offline HTML page.

A run that did not finish (its driver was killed before writing results.parquet) is reported from
its result parts: the page and the printed result say so (``run_finished: false`` and a ``note``).
"""
from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from lipdub.report import write_report

log = logging.getLogger(__name__)


def run_report(results_uri: str, out: str) -> dict[str, Any]:
    """Write the report of the run at ``results_uri`` (its results.parquet or run folder) to
    ``out``; returns what was written (``out_uri``, item counts, ``size_bytes``, ``run_finished``
    and, for a run that did not finish, a ``note``) as a plain dict."""
    summary = write_report(str(results_uri), str(out))
    log.info("%d items: %s", summary.items, ", ".join(f"{count} {status}" for status, count in sorted(summary.by_status.items())))
    if not summary.run_finished:
        # Last on the console, so it is not lost above the item counts.
        log.warning("the run did not finish: the report holds only the %d items recorded in its result parts", summary.items)
    return asdict(summary)
