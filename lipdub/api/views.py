"""Job records -> the API's response bodies, and pipeline result rows -> record fields.

One place for both directions, so a status call, a webhook payload and the record the runner
writes always agree.
"""
from __future__ import annotations

import json
from typing import Any

from lipdub.api.records import utc_now
from lipdub.api.schemas import TERMINAL_STATES
from lipdub.api.tenants import record_tenant

# Results-manifest statuses -> API states ("skipped": an earlier identical dub's output stands).
_ROW_STATES = {"ok": "ok", "skipped": "ok", "failed": "failed", "pending": "queued"}


def fields_from_result_row(row: dict[str, Any]) -> dict[str, Any]:
    """What a dub record takes from its item's result row."""
    qa = json.loads(row["qa_figures"]) if row.get("qa_figures") else None
    reasons = json.loads(row["review_reasons"]) if row.get("review_reasons") else []
    return {
        "state": _ROW_STATES.get(row.get("status") or "", "failed"),
        "output_uri": row.get("output_uri"),
        "qa": qa,
        "needs_review": row.get("needs_review"),
        "review_reasons": reasons,
        "output_frames": row.get("n_output_frames"),
        "error": row.get("error"),
        "failed_stage": row.get("failed_stage"),
        "finished_at": row.get("finished_at") or utc_now(),
    }


def dub_status(record: dict[str, Any]) -> dict[str, Any]:
    """A dub record as the API shows it (GET /v1/dubs/{id}, webhooks, batch items)."""
    keys = (
        "id", "batch_id", "state", "created_at", "updated_at", "started_at", "finished_at", "video_uri", "audio_uri",
        "language", "output_uri", "needs_review", "qa", "output_frames", "error", "failed_stage", "callback_url",
    )
    view = {key: record.get(key) for key in keys}
    view["tenant"] = record_tenant(record)
    view["review_reasons"] = list(record.get("review_reasons") or [])
    view["webhook_deliveries"] = list(record.get("webhook_deliveries") or [])
    view["progress"] = 1.0 if record["state"] in TERMINAL_STATES else 0.0
    return view


def batch_counts(items: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item["state"]] = counts.get(item["state"], 0) + 1
    return counts


def batch_status(record: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch record with its items (GET /v1/batches/{id}, the batch webhook)."""
    finished = sum(1 for item in items if item["state"] in TERMINAL_STATES)
    keys = ("id", "state", "created_at", "updated_at", "started_at", "finished_at", "error", "callback_url")
    view = {key: record.get(key) for key in keys}
    view.update(
        tenant=record_tenant(record),
        progress=finished / len(items) if items else 1.0,
        counts=batch_counts(items),
        items=[dub_status(item) for item in items],
        webhook_deliveries=list(record.get("webhook_deliveries") or []),
    )
    return view
