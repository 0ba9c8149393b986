"""Cancelling an item that is already in a long-lived pipeline (the API's warm stages).

A running Ray Data execution cannot take one item back, so cancelling leaves a marker in the
item's work folder; every stage looks for it before it starts work on the item (operators/base.py)
and the assemble stage again just before it publishes the output, so a cancelled item stops at
the next stage boundary and never appears at its output path. Item work folders are named after
the item id, which the API makes unique per dub, so a marker never reaches another request.
"""
from __future__ import annotations

from typing import Any

from lipdub.errors import ItemCancelled
from lipdub.item_row import safe_name
from lipdub.storage import filesystem_for, join_uri, open_uri, uri_exists

MARKER = "CANCELLED"
REASON = "cancelled by request"


def item_work_dir(work_root: str, item_id: str) -> str:
    """Where an item's intermediate files live (the probe stage puts it in the row's work_dir)."""
    return join_uri(work_root, "items", safe_name(item_id))


def request_cancel(work_dir: str) -> None:
    filesystem_for(work_dir).makedirs(work_dir, exist_ok=True)
    with open_uri(join_uri(work_dir, MARKER), "wb") as handle:
        handle.write(REASON.encode())


def raise_if_cancelled(row: dict[str, Any]) -> None:
    """`ItemCancelled` when the row's item was cancelled (rows before the probe have no work_dir)."""
    work_dir = row.get("work_dir")
    if work_dir and uri_exists(join_uri(work_dir, MARKER)):
        raise ItemCancelled(REASON)
