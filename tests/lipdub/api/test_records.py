"""The API's record store on a local root and on a real S3-compatible server (moto, on loopback)."""
from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time

import pytest

from lipdub.api.errors import ApiError
from lipdub.api.records import RecordStore, is_record_id, new_id
from lipdub.storage import is_local

BODY_A = hashlib.sha256(b'{"video_uri": "a.mp4"}').hexdigest()
BODY_B = hashlib.sha256(b'{"video_uri": "b.mp4"}').hexdigest()


def record_id(kind: str, stamp: str, suffix: str = "0000abcd") -> str:
    """A record id with a chosen time stamp (so orderings do not hang on clock resolution)."""
    return f"{kind}_{stamp}_{suffix}"


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> RecordStore:
    if request.param == "local":
        return RecordStore(str(tmp_path / "api"))
    request.getfixturevalue("s3_server")
    return RecordStore("s3://lipdub/state/api")


# --- ids ----------------------------------------------------------------------------------------

def test_new_id_has_its_kind_and_is_a_record_id() -> None:
    dub, batch = new_id("dub"), new_id("batch")
    assert dub.startswith("dub_") and batch.startswith("batch_")
    assert is_record_id(dub) and is_record_id(dub, "dub") and not is_record_id(dub, "batch")
    assert is_record_id(batch, "batch") and not is_record_id(batch, "dub")


def test_new_ids_are_unique_and_sort_by_creation_time() -> None:
    first = new_id("dub")
    time.sleep(0.002)
    second = new_id("dub")
    assert first != second
    assert first.split("_", 1)[1] < second.split("_", 1)[1]
    stamp = dt.datetime.strptime(second.split("_")[1], "%Y%m%dT%H%M%S%f").replace(tzinfo=dt.timezone.utc)
    assert abs((dt.datetime.now(dt.timezone.utc) - stamp).total_seconds()) < 60
    assert len({new_id("dub") for _ in range(1000)}) == 1000


@pytest.mark.parametrize("value", [
    "", "dub", "../../etc/passwd", "dub_20260101T000000000000_abcdef1", "dub_20260101T000000000000_ABCDEF12",
    "job_20260101T000000000000_abcdef12", "dub_20260101T000000000000_abcdef12.json",
    "dub_2026010T000000000000_abcdef12", "../dub_20260101T000000000000_abcdef12",
    "dub_20260101T000000000000_abcdef12/../../x",
])
def test_strings_that_are_no_record_id_are_refused(value: str) -> None:
    assert not is_record_id(value)


def test_a_record_id_with_a_trailing_newline_is_refused() -> None:
    assert not is_record_id("dub_20260101T000000000000_abcdef12\n")


# --- records ------------------------------------------------------------------------------------

def test_put_then_get_round_trips_and_stamps_updated_at(store: RecordStore) -> None:
    dub_id = new_id("dub")
    record = {"id": dub_id, "state": "queued", "video_uri": "s3://in/a.mp4", "qa": {"sync_offset_ms": 12.5}}
    before = dt.datetime.now(dt.timezone.utc)
    store.put(record)
    got = store.get(dub_id)
    assert got is not None
    assert {k: got[k] for k in ("id", "state", "video_uri", "qa")} == {
        "id": dub_id, "state": "queued", "video_uri": "s3://in/a.mp4", "qa": {"sync_offset_ms": 12.5}}
    updated = dt.datetime.fromisoformat(got["updated_at"])
    assert before - dt.timedelta(seconds=1) <= updated <= dt.datetime.now(dt.timezone.utc)


def test_put_replaces_the_whole_record(store: RecordStore) -> None:
    dub_id = new_id("dub")
    store.put({"id": dub_id, "state": "queued", "error": "x"})
    store.put({"id": dub_id, "state": "running"})
    got = store.get(dub_id)
    assert got is not None and got["state"] == "running" and "error" not in got


@pytest.mark.parametrize("value", ["../../etc/passwd", "requests/x", "", "dub_x", "/etc/passwd"])
def test_get_of_a_string_that_is_no_id_is_none(store: RecordStore, value: str) -> None:
    store.put({"id": new_id("dub"), "state": "queued"})
    assert store.get(value) is None


def test_get_of_a_missing_id_is_none(store: RecordStore) -> None:
    assert store.get(new_id("dub")) is None  # empty store
    store.put({"id": new_id("dub"), "state": "queued"})
    assert store.get(new_id("dub")) is None  # another id


def test_put_refuses_a_record_whose_id_is_no_record_id(store: RecordStore) -> None:
    with pytest.raises(ValueError, match="not a record id"):
        store.put({"id": "../../escape", "state": "queued"})
    assert store.ids() == []


def test_update_changes_given_fields_and_keeps_the_rest(store: RecordStore) -> None:
    dub_id = new_id("dub")
    store.put({"id": dub_id, "state": "queued", "video_uri": "a.mp4"})
    first_updated = store.get(dub_id)["updated_at"]
    time.sleep(0.002)
    returned = store.update(dub_id, state="ok", output_uri="out/x.mp4")
    got = store.get(dub_id)
    assert got == returned
    assert (got["state"], got["output_uri"], got["video_uri"]) == ("ok", "out/x.mp4", "a.mp4")
    assert got["updated_at"] > first_updated


def test_update_of_a_missing_record_raises_key_error(store: RecordStore) -> None:
    missing = new_id("dub")
    with pytest.raises(KeyError):
        store.update(missing, state="ok")
    assert store.get(missing) is None


def test_ids_are_newest_first_and_filtered_by_kind(store: RecordStore) -> None:
    dub_old = record_id("dub", "20260101T000000000001")
    batch_mid = record_id("batch", "20260101T000000000002")
    dub_new = record_id("dub", "20260102T000000000000")
    batch_newest = record_id("batch", "20260103T000000000000")
    for rid in (dub_new, dub_old, batch_newest, batch_mid):  # written out of order
        store.put({"id": rid, "state": "queued"})
    assert store.ids() == [batch_newest, dub_new, batch_mid, dub_old]
    assert store.ids(newest_first=False) == [dub_old, batch_mid, dub_new, batch_newest]
    assert store.ids("dub") == [dub_new, dub_old]
    assert store.ids("batch") == [batch_newest, batch_mid]


def test_ids_of_an_empty_store_is_empty(store: RecordStore) -> None:
    assert store.ids() == [] and store.ids("dub") == [] and list(store.records()) == []


def test_ids_ignore_files_that_are_no_records(store: RecordStore) -> None:
    rid = record_id("dub", "20260101T000000000001")
    store.put({"id": rid, "state": "queued"})
    requests = store.fs._strip_protocol(store.root + "/requests")
    store.fs.pipe_file(f"{requests}/notes.txt", b"x")
    store.fs.pipe_file(f"{requests}/job_1.json", b"{}")
    assert store.ids() == [rid]


def test_records_yields_newest_first_up_to_limit(store: RecordStore) -> None:
    stamps = [f"2026010{day}T000000000000" for day in range(1, 6)]
    for stamp in stamps:
        store.put({"id": record_id("dub", stamp), "state": "queued", "day": stamp[7]})
    store.put({"id": record_id("batch", "20260109T000000000000"), "state": "queued"})
    assert [r["day"] for r in store.records("dub", limit=3)] == ["5", "4", "3"]
    assert [r["day"] for r in store.records("dub")] == ["5", "4", "3", "2", "1"]
    assert [r["id"].split("_")[0] for r in store.records(limit=2)] == ["batch", "dub"]
    assert list(store.records(limit=0)) == []


# --- idempotency keys ---------------------------------------------------------------------------

def test_a_new_key_stands_for_the_offered_id(store: RecordStore) -> None:
    first = new_id("dub")
    assert store.claim_idempotency_key("token-1", "key-1", BODY_A, first) == first


def test_the_same_key_and_body_returns_the_first_id(store: RecordStore) -> None:
    first, retry = new_id("dub"), new_id("dub")
    store.claim_idempotency_key("token-1", "key-1", BODY_A, first)
    assert store.claim_idempotency_key("token-1", "key-1", BODY_A, retry) == first
    assert store.claim_idempotency_key("token-1", "key-1", BODY_A, new_id("dub")) == first


def test_the_same_key_with_another_body_is_a_409(store: RecordStore) -> None:
    first = new_id("dub")
    store.claim_idempotency_key("token-1", "key-1", BODY_A, first)
    with pytest.raises(ApiError) as raised:
        store.claim_idempotency_key("token-1", "key-1", BODY_B, new_id("dub"))
    assert (raised.value.status, raised.value.code) == (409, "idempotency_key_reused")
    # The first claim stands.
    assert store.claim_idempotency_key("token-1", "key-1", BODY_A, new_id("dub")) == first


def test_keys_of_different_scopes_are_independent(store: RecordStore) -> None:
    mine, theirs = new_id("dub"), new_id("dub")
    assert store.claim_idempotency_key("token-1", "shared-key", BODY_A, mine) == mine
    assert store.claim_idempotency_key("token-2", "shared-key", BODY_B, theirs) == theirs
    assert store.claim_idempotency_key("token-1", "shared-key", BODY_A, new_id("dub")) == mine
    assert store.claim_idempotency_key("token-2", "shared-key", BODY_B, new_id("dub")) == theirs


def test_scope_and_key_do_not_run_together(store: RecordStore) -> None:
    """("a", "b-c") and ("a-b", "c") are different claims, not one file."""
    first, second = new_id("dub"), new_id("dub")
    assert store.claim_idempotency_key("a", "b-c", BODY_A, first) == first
    assert store.claim_idempotency_key("a-b", "c", BODY_B, second) == second


def race_claims(store: RecordStore, key: str, n_threads: int = 8) -> tuple[list[str], list[str], list[BaseException]]:
    """`n_threads` threads claim one new key at once, each offering its own id:
    (candidates, what each got, errors)."""
    candidates = [new_id("dub") for _ in range(n_threads)]
    start = threading.Barrier(n_threads)
    results: list[str] = [""] * n_threads
    errors: list[BaseException] = []

    def claim(index: int) -> None:
        start.wait()
        try:
            results[index] = store.claim_idempotency_key("token-1", key, BODY_A, candidates[index])
        except BaseException as error:  # collected and asserted by the caller
            errors.append(error)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return candidates, results, errors


def test_racing_claims_of_one_new_key_all_get_one_id(store: RecordStore) -> None:
    # A lost race is a matter of timing: several rounds make one likely where the claim is not atomic.
    rounds = 20 if is_local(store.root) else 3
    for round_ in range(rounds):
        candidates, results, errors = race_claims(store, f"racy-key-{round_}")
        assert errors == [], f"round {round_}: {errors!r}"
        assert len(set(results)) == 1, f"round {round_}: {results}"
        assert results[0] in candidates
        # A later retry agrees with the winner.
        assert store.claim_idempotency_key("token-1", f"racy-key-{round_}", BODY_A, new_id("dub")) == results[0]
