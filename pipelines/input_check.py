"""Bad input found in the driver, before Ray starts: the probe's own checks (`InputCheck`) over a
run's items, so an unreadable video or a dub that is not audio fails its item in about a second
with the words the pipeline's probe stage would use, and costs no Ray start-up or Ray work.

`lipdub dub` checks its one item the same way (jobs/dub_one.py); catalog runs call
`check_inputs` (pipelines/catalog_run.py). Only items whose inputs are all local files are checked
here: probing a remote input means downloading all of it, and a catalog of remote videos would
then be fetched once by the driver before the pipeline fetched it again on its nodes; those items
are checked by the pipeline's probe stage, as before.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lipdub.config import PipelineConfig
from lipdub.storage import is_local
from operators.probe import InputCheck

log = logging.getLogger(__name__)

# Header reads of local files: a few at a time hides slow disks without starving a small machine.
MAX_THREADS = 8
INPUT_COLUMNS = ("video_uri", "audio_uri")


@dataclass
class CheckedItems:
    """A run's items after the driver's input check, each list in the items' order."""

    passed: list[dict[str, Any]] = field(default_factory=list)  # as given: they go to the pipeline
    failed: list[dict[str, Any]] = field(default_factory=list)  # failed result rows, as the probe stage makes them


def check_inputs(rows: list[dict[str, Any]], config: PipelineConfig, *, threads: int = MAX_THREADS) -> CheckedItems:
    """Run `InputCheck` over ``rows`` (catalog rows, ROW_SCHEMA) in a small thread pool."""
    checked = CheckedItems()
    local = [row for row in rows if all(is_local(row[column]) for column in INPUT_COLUMNS if row.get(column))]
    if not local:
        checked.passed = list(rows)
        return checked
    check = InputCheck(config)
    started = time.perf_counter()
    pool = ThreadPoolExecutor(max(1, min(threads, len(local))), thread_name_prefix="input-check")
    try:
        outcomes = dict(zip(map(id, local), pool.map(lambda row: _check_one(check, row), local)))
    finally:
        # On Ctrl-C, do not wait for the checks not yet begun (the caller marks their items pending).
        pool.shutdown(wait=True, cancel_futures=True)
    for row in rows:  # in the catalog's order; remote items pass to the pipeline unchecked
        outcome = outcomes.get(id(row))
        if outcome is not None and outcome["status"] == "failed":
            checked.failed.append(outcome)
        else:
            checked.passed.append(row)
    log.info("input check: %d of %d local items failed before any work (%.1f s)", len(checked.failed), len(local), time.perf_counter() - started)
    return checked


def _check_one(check: InputCheck, row: dict[str, Any]) -> dict[str, Any] | None:
    """The item's row after the check (failed: with the probe's stage and message), or None when the
    check itself broke: the item then goes to the pipeline, whose probe stage decides."""
    try:
        (out,) = check.run_row(row)
    except Exception as error:  # noqa: BLE001 - a broken check must neither stop the run nor drop the item
        log.warning("input check of item %s did not complete (%s: %s); the pipeline probes it", row.get("item_id"), error.__class__.__name__, error)
        return None
    return out
