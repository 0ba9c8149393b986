"""Result rows -> dub record fields, and records -> the API's status bodies (checked against the schemas)."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from lipdub.api.records import new_id
from lipdub.api.schemas import TERMINAL_STATES, BatchStatus, DubStatus
from lipdub.api.views import batch_counts, batch_status, dub_status, fields_from_result_row

QA = {"sync_offset_ms": 12.5, "mouth_motion_corr": 0.81, "frames": 250}
CREATED = "2026-11-26T14:05:01.123+00:00"
UPDATED = "2026-11-26T14:06:00.000+00:00"


def result_row(status: str, **extra) -> dict:
    row = {"item_id": "dub_x", "status": status, "output_uri": None, "qa_figures": None, "needs_review": None,
           "review_reasons": None, "n_output_frames": None, "error": None, "failed_stage": None, "finished_at": None}
    row.update(extra)
    return row


def dub_record(state: str = "queued", **extra) -> dict:
    record = {"id": new_id("dub"), "state": state, "created_at": CREATED, "updated_at": UPDATED,
              "video_uri": "s3://in/a.mp4", "audio_uri": "s3://in/a.wav", "language": "es",
              "output_uri": "s3://out/a.mp4"}
    record.update(extra)
    return record


# --- fields_from_result_row ---------------------------------------------------------------------

@pytest.mark.parametrize(("status", "state"), [("ok", "ok"), ("skipped", "ok"), ("failed", "failed"), ("pending", "queued")])
def test_result_row_statuses_map_to_api_states(status: str, state: str) -> None:
    assert fields_from_result_row(result_row(status))["state"] == state


@pytest.mark.parametrize("status", [None, "", "exploded"])
def test_an_unknown_or_missing_status_is_a_failure_not_a_success(status) -> None:
    assert fields_from_result_row(result_row(status))["state"] == "failed"


def test_an_ok_row_carries_output_qa_and_review() -> None:
    row = result_row("ok", output_uri="s3://out/a.mp4", qa_figures=json.dumps(QA), needs_review=True,
                     review_reasons=json.dumps(["sync offset above 40 ms", "low face confidence"]),
                     n_output_frames=250, finished_at="2026-11-26T14:10:00+00:00")
    fields = fields_from_result_row(row)
    assert fields == {
        "state": "ok", "output_uri": "s3://out/a.mp4", "qa": QA, "needs_review": True,
        "review_reasons": ["sync offset above 40 ms", "low face confidence"], "output_frames": 250,
        "error": None, "failed_stage": None, "finished_at": "2026-11-26T14:10:00+00:00",
    }


def test_a_failed_row_keeps_its_error_and_stage() -> None:
    fields = fields_from_result_row(result_row("failed", error="no face found in the first 10 s", failed_stage="analyze",
                                               finished_at="2026-11-26T14:10:00+00:00"))
    assert (fields["state"], fields["error"], fields["failed_stage"]) == ("failed", "no face found in the first 10 s", "analyze")
    assert fields["qa"] is None and fields["review_reasons"] == [] and fields["output_frames"] is None


def test_empty_json_columns_become_none_and_an_empty_list() -> None:
    for empty in (None, ""):
        fields = fields_from_result_row(result_row("ok", qa_figures=empty, review_reasons=empty))
        assert fields["qa"] is None and fields["review_reasons"] == []
    assert fields_from_result_row(result_row("ok", review_reasons="[]"))["review_reasons"] == []


def test_a_row_without_finished_at_gets_now() -> None:
    before = dt.datetime.now(dt.timezone.utc)
    for row in (result_row("ok"), {"status": "ok"}):
        finished = dt.datetime.fromisoformat(fields_from_result_row(row)["finished_at"])
        assert before - dt.timedelta(seconds=1) <= finished <= dt.datetime.now(dt.timezone.utc)


def test_a_sparse_row_gives_every_field() -> None:
    fields = fields_from_result_row({"status": "skipped"})
    assert set(fields) == {"state", "output_uri", "qa", "needs_review", "review_reasons", "output_frames", "error",
                           "failed_stage", "finished_at"}
    assert fields["state"] == "ok"


def test_a_record_updated_from_a_row_is_a_valid_dub_status() -> None:
    record = dub_record("running")
    record.update(fields_from_result_row(result_row("ok", output_uri="s3://out/a.mp4", qa_figures=json.dumps(QA),
                                                    review_reasons='["x"]', needs_review=True, n_output_frames=250)))
    status = DubStatus.model_validate(dub_status(record))
    assert (status.state, status.progress, status.qa, status.review_reasons, status.output_frames) == ("ok", 1.0, QA, ["x"], 250)


# --- dub_status ---------------------------------------------------------------------------------

@pytest.mark.parametrize("state", ["queued", "running", "ok", "failed", "cancelled"])
def test_dub_status_has_every_field_in_every_state(state: str) -> None:
    view = dub_status(dub_record(state))
    assert set(view) == set(DubStatus.model_fields)
    status = DubStatus.model_validate(view)
    assert status.progress == (1.0 if state in TERMINAL_STATES else 0.0)
    assert status.state == state


def test_terminal_states_are_the_finished_ones() -> None:
    assert TERMINAL_STATES == {"ok", "failed", "cancelled"}


def test_dub_status_passes_known_fields_and_drops_internal_ones() -> None:
    deliveries = [{"attempt": 1, "at": UPDATED, "status_code": 500, "error": None, "seconds": 0.2},
                  {"attempt": 2, "at": UPDATED, "status_code": 204, "error": None, "seconds": 0.1}]
    record = dub_record("ok", batch_id="batch_20261126T140501123456_1a2b3c4d", output_frames=250,
                        review_reasons=("a", "b"), webhook_deliveries=deliveries, callback_url="https://hooks.example.com/x",
                        outcome={"wall_seconds": 12.0}, body_sha256="abc", options={"sync_mode": "auto"})
    view = dub_status(record)
    assert "outcome" not in view and "body_sha256" not in view and "options" not in view
    assert view["review_reasons"] == ["a", "b"] and isinstance(view["review_reasons"], list)
    status = DubStatus.model_validate(view)
    assert status.batch_id == record["batch_id"] and status.callback_url == "https://hooks.example.com/x"
    assert [d.status_code for d in status.webhook_deliveries] == [500, 204]
    # The view is a copy: changing it leaves the record alone.
    view["review_reasons"].append("c")
    assert record["review_reasons"] == ("a", "b")


def test_dub_status_of_a_record_with_nulls_gives_empty_lists() -> None:
    view = dub_status(dub_record("queued", review_reasons=None, webhook_deliveries=None))
    assert view["review_reasons"] == [] and view["webhook_deliveries"] == []
    assert view["started_at"] is None and view["qa"] is None and view["error"] is None


# --- batch_status -------------------------------------------------------------------------------

def batch_record(state: str = "running", **extra) -> dict:
    record = {"id": new_id("batch"), "state": state, "created_at": CREATED, "updated_at": UPDATED, "item_ids": []}
    record.update(extra)
    return record


def test_batch_of_one_ok_and_one_running_is_half_done() -> None:
    items = [dub_record("ok"), dub_record("running")]
    view = batch_status(batch_record(), items)
    status = BatchStatus.model_validate(view)
    assert status.progress == pytest.approx(0.5)
    assert status.counts == {"ok": 1, "running": 1}
    assert [item.id for item in status.items] == [items[0]["id"], items[1]["id"]]
    assert [item.progress for item in status.items] == [1.0, 0.0]


def test_batch_counts_and_progress_over_all_states() -> None:
    states = ["ok", "ok", "failed", "cancelled", "running", "queued", "queued", "queued"]
    items = [dub_record(state) for state in states]
    status = BatchStatus.model_validate(batch_status(batch_record(), items))
    assert status.counts == {"ok": 2, "failed": 1, "cancelled": 1, "running": 1, "queued": 3}
    assert sum(status.counts.values()) == len(items)
    assert status.progress == pytest.approx(4 / 8)
    assert batch_counts(items) == status.counts


def test_a_finished_batch_is_complete() -> None:
    items = [dub_record("ok"), dub_record("failed", error="no face", failed_stage="analyze")]
    record = batch_record("ok", finished_at=UPDATED, callback_url="https://hooks.example.com/b",
                          webhook_deliveries=[{"attempt": 1, "at": UPDATED, "status_code": 200, "seconds": 0.1}])
    status = BatchStatus.model_validate(batch_status(record, items))
    assert status.progress == 1.0 and status.state == "ok" and status.finished_at == UPDATED
    assert status.items[1].error == "no face" and status.items[1].failed_stage == "analyze"
    assert status.webhook_deliveries[0].status_code == 200


def test_a_batch_without_items_counts_as_done_and_is_valid() -> None:
    view = batch_status(batch_record("ok"), [])
    status = BatchStatus.model_validate(view)
    assert (status.progress, status.counts, status.items) == (1.0, {}, [])


def test_batch_status_has_every_field_and_drops_internal_ones() -> None:
    view = batch_status(batch_record(body_sha256="abc", outcome={"wall_seconds": 3.0}), [dub_record("queued")])
    assert set(view) == set(BatchStatus.model_fields)
    assert "item_ids" not in view and "outcome" not in view
    assert BatchStatus.model_validate(view).progress == 0.0


# --- tenant -------------------------------------------------------------------------------------

def test_views_name_the_records_tenant() -> None:
    items = [dub_record("ok", tenant="acme"), dub_record("queued", tenant="acme")]
    batch = BatchStatus.model_validate(batch_status(batch_record(tenant="acme"), items))
    assert batch.tenant == "acme" and [item.tenant for item in batch.items] == ["acme", "acme"]
    assert DubStatus.model_validate(dub_status(dub_record("ok", tenant="globex"))).tenant == "globex"


def test_a_record_from_before_tenants_shows_the_default_tenant() -> None:
    assert dub_status(dub_record("ok"))["tenant"] == "default"
    assert batch_status(batch_record(), [])["tenant"] == "default"
