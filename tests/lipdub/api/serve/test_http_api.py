"""The HTTP API end to end: real Serve on 127.0.0.1, real pipeline runs, real webhooks."""
from __future__ import annotations

import json
import time
from typing import Callable

import pytest

from lipdub.api.webhooks import SIGNATURE_HEADER, verify
from tests.lipdub.api.serve.conftest import MAX_BATCH_ITEMS, WEBHOOK_SECRET, Api, decode

DUB_TIMEOUT_S = 400


def wait_for(api: Api, path: str, done: Callable[[dict], bool], timeout: float = DUB_TIMEOUT_S) -> dict:
    """Poll a status URL until ``done(body)``; tolerate a replica that is being replaced."""
    deadline = time.monotonic() + timeout
    last: dict | str = "no answer"
    while time.monotonic() < deadline:
        try:
            response = api.call("GET", path)
            if response.status_code == 200:
                last = response.json()
                if done(last):
                    return last
            else:
                last = f"HTTP {response.status_code}: {response.text[:200]}"
        except Exception as error:  # noqa: BLE001 - a replica restarting drops connections
            last = repr(error)
        time.sleep(0.5)
    raise AssertionError(f"{path} not done after {timeout} s; last: {last}")


def terminal(body: dict) -> bool:
    return body["state"] in ("ok", "failed", "cancelled")


def test_health_and_openapi_document(api: Api) -> None:
    assert decode(api.call("GET", "/v1/health", token=None)) == {"status": "ok"}
    document = decode(api.call("GET", "/v1/openapi.json", token=None))
    paths = document["paths"]
    for path, methods in {"/v1/dubs": {"post", "get"}, "/v1/dubs/{dub_id}": {"get", "delete"}, "/v1/batches": {"post"},
                          "/v1/batches/{batch_id}": {"get", "delete"}, "/v1/estimate": {"post"}}.items():
        assert methods <= set(paths[path]), path
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    assert "401" in paths["/v1/dubs"]["post"]["responses"]


@pytest.mark.parametrize("method,path", [("GET", "/v1/dubs"), ("POST", "/v1/dubs"), ("POST", "/v1/batches"), ("POST", "/v1/estimate"),
                                         ("GET", "/v1/dubs/dub_20260101T000000000000_00000000")])
@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_every_route_needs_the_bearer_token(api: Api, method: str, path: str, token: str | None) -> None:
    response = api.call(method, path, token=token, json=api.dub_body())
    assert response.status_code == 401
    assert decode(response)["error"]["code"] == "unauthorized"
    assert "wrong-token" not in response.text


def _bad_requests(api: Api) -> list[tuple[str, str, dict, int, str]]:
    inputs = api.inputs
    return [
        ("POST", "/v1/dubs", api.dub_body(colour="red"), 422, "invalid_request"),
        ("POST", "/v1/dubs", {"audio_uri": str(inputs.dub)}, 422, "invalid_request"),
        ("POST", "/v1/dubs", api.dub_body(video_uri="/etc/passwd"), 403, "uri_not_allowed"),
        ("POST", "/v1/dubs", api.dub_body(video_uri=str(inputs.folder / ".." / ".." / "etc" / "passwd")), 403, "uri_not_allowed"),
        ("POST", "/v1/dubs", api.dub_body(video_uri="relative/clip.mp4"), 400, "bad_uri"),
        ("POST", "/v1/dubs", api.dub_body(video_uri="s3://someone-else/clip.mp4"), 403, "uri_not_allowed"),
        ("POST", "/v1/dubs", api.dub_body(video_uri="http://169.254.169.254/latest/meta-data"), 403, "uri_not_allowed"),
        ("POST", "/v1/dubs", api.dub_body(video_uri=str(inputs.folder / "missing.mp4")), 400, "input_not_found"),
        ("POST", "/v1/dubs", api.dub_body(output_uri="/tmp/elsewhere/out.mp4"), 403, "uri_not_allowed"),
        ("POST", "/v1/dubs", api.dub_body(output_uri=str(inputs.output_root / "x.txt")), 400, "bad_uri"),
        ("POST", "/v1/dubs", api.dub_body(callback_url="http://example.com/hook"), 403, "uri_not_allowed"),
        ("POST", "/v1/dubs", api.dub_body(options={"sync_mode": "stretch"}), 422, "invalid_request"),
        ("POST", "/v1/dubs", api.dub_body(options={"speaker_point": "left"}), 422, "invalid_request"),
        ("POST", "/v1/dubs", api.dub_body(options={"video_codec": "vp9"}), 422, "invalid_request"),
        ("POST", "/v1/dubs", api.dub_body(output_uri=str(inputs.output_root / "x.mp4"), options={"video_codec": "prores"}), 400, "bad_output_format"),
        ("POST", "/v1/batches", {"items": []}, 422, "invalid_request"),
        ("POST", "/v1/batches", {"items": [api.dub_body()] * (MAX_BATCH_ITEMS + 1)}, 413, "batch_too_large"),
        ("POST", "/v1/batches", {"items": [api.dub_body(), api.dub_body(audio_uri="/etc/hosts")]}, 403, "uri_not_allowed"),
        ("POST", "/v1/estimate", {"items": [api.dub_body(audio_uri=str(inputs.broken_dub))]}, 400, "unreadable_media"),
        ("GET", "/v1/dubs/dub_20260101T000000000000_00000000", {}, 404, "not_found"),
        ("GET", "/v1/dubs/..%2F..%2Fetc%2Fpasswd", {}, 404, "not_found"),
        ("GET", "/v1/dubs/not-an-id", {}, 422, "invalid_request"),
        ("GET", "/v1/batches/batch_20260101T000000000000_00000000", {}, 404, "not_found"),
        ("DELETE", "/v1/dubs/dub_20260101T000000000000_00000000", {}, 404, "not_found"),
        ("GET", "/v1/dubs?limit=0", {}, 422, "invalid_request"),
        ("GET", "/v1/nowhere", {}, 404, "not_found"),
    ]


def test_bad_requests_get_a_clear_4xx(api: Api) -> None:
    before = len(decode(api.call("GET", "/v1/dubs?limit=500"))["dubs"])
    for method, path, body, status, code in _bad_requests(api):
        response = api.call(method, path, json=body if method == "POST" else None)
        assert response.status_code == status, (method, path, body, response.text)
        error = decode(response)["error"]
        assert error["code"] == code and len(error["message"]) > 10, (path, error)
    assert len(decode(api.call("GET", "/v1/dubs?limit=500"))["dubs"]) == before, "a refused request left a record"


def test_oversized_bodies_and_keys_are_refused(api: Api) -> None:
    huge = api.dub_body(options={"transcript": "la " * 6000})
    response = api.call("POST", "/v1/dubs", data=json.dumps(huge) * 20, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and decode(response)["error"]["code"] == "body_too_large"
    response = api.call("POST", "/v1/dubs", json=api.dub_body(), headers={"Idempotency-Key": "k" * 300})
    assert response.status_code == 422


def test_estimate_counts_frames_and_expected_seconds(api: Api) -> None:
    from lipdub.media.probe import probe_audio, probe_video

    body = decode(api.call("POST", "/v1/estimate", json={"items": [api.dub_body(), api.dub_body()]}))
    fps = float(probe_video(str(api.inputs.video)).fps)
    frames = round(probe_audio(str(api.inputs.dub)).duration_s * fps)
    assert [item["output_frames"] for item in body["items"]] == [frames, frames]
    assert body["output_frames"] == 2 * frames
    assert body["cluster_cpus"] > 0 and body["fps_per_cpu"] > 0
    assert body["expected_compute_seconds"] > 2 * frames / (body["fps_per_cpu"] * body["cluster_cpus"])


def _serve_replica_names() -> list[tuple[str, str]]:
    import ray

    return [(actor["name"], actor["namespace"]) for actor in ray.util.list_named_actors(all_namespaces=True)
            if actor["name"].startswith("SERVE_REPLICA::") and "LipdubApi" in actor["name"]]


def test_a_dub_survives_replica_and_runner_restarts_and_calls_back_signed(api: Api, webhook_receiver) -> None:
    import ray

    from lipdub.api.runner import RUNNER_NAME, RUNNER_NAMESPACE

    webhook_receiver.script[:] = [500]  # the first delivery fails: the runner must retry
    body = api.dub_body(callback_url=webhook_receiver.url + "/hooks/one", options={"sync_mode": "loop"})
    first = api.call("POST", "/v1/dubs", json=body, headers={"Idempotency-Key": "lifecycle-1"})
    assert first.status_code == 202, first.text
    dub_id = decode(first)["id"]
    # A retried POST (same key, same body) is the same dub; the same key with another body is a client bug.
    assert decode(api.call("POST", "/v1/dubs", json=body, headers={"Idempotency-Key": "lifecycle-1"}))["id"] == dub_id
    other = api.call("POST", "/v1/dubs", json=dict(body, language="fr"), headers={"Idempotency-Key": "lifecycle-1"})
    assert other.status_code == 409 and decode(other)["error"]["code"] == "idempotency_key_reused"

    wait_for(api, f"/v1/dubs/{dub_id}", lambda b: b["state"] in ("running", "ok"), timeout=120)
    replicas = _serve_replica_names()
    assert replicas, "no Serve replica found"
    for name, namespace in replicas:
        ray.kill(ray.get_actor(name, namespace=namespace), no_restart=True)
    # The runner restarts (Ray restarts it) and resumes the request from the record store.
    ray.kill(ray.get_actor(RUNNER_NAME, namespace=RUNNER_NAMESPACE), no_restart=False)

    final = wait_for(api, f"/v1/dubs/{dub_id}", lambda b: terminal(b) and bool(b["webhook_deliveries"]))
    assert set(_serve_replica_names()) != set(replicas), "the replica was not replaced"
    assert final["state"] == "ok", final
    assert final["output_uri"].startswith(str(api.inputs.output_root))
    assert final["output_frames"] > 0 and final["qa"]["frames"] == final["output_frames"]
    assert isinstance(final["needs_review"], bool)
    from lipdub.media.probe import probe_video

    assert probe_video(final["output_uri"]).n_frames == final["output_frames"]

    posts = webhook_receiver.posts_to("/hooks/one")
    assert [post["answered"] for post in posts] == [500, 200]
    for post in posts:
        assert verify(post["body"], post["headers"][SIGNATURE_HEADER], WEBHOOK_SECRET)
        assert not verify(post["body"] + b" ", post["headers"][SIGNATURE_HEADER], WEBHOOK_SECRET)
    payload = json.loads(posts[-1]["body"])
    assert payload["event"] == "dub.completed" and payload["id"] == dub_id and payload["state"] == "ok"
    deliveries = final["webhook_deliveries"]
    assert [d["status_code"] for d in deliveries] == [500, 200]
    listed = decode(api.call("GET", "/v1/dubs?state=ok"))["dubs"]
    assert dub_id in [d["id"] for d in listed]


def test_a_batch_reports_each_item_and_a_bad_item_fails_alone(api: Api, webhook_receiver) -> None:
    items = [api.dub_body(), api.dub_body(audio_uri=str(api.inputs.broken_dub))]
    accepted = api.call("POST", "/v1/batches", json={"items": items, "callback_url": webhook_receiver.url + "/hooks/batch"})
    assert accepted.status_code == 202, accepted.text
    batch_id = decode(accepted)["id"]
    final = wait_for(api, f"/v1/batches/{batch_id}", lambda b: terminal(b) and bool(b["webhook_deliveries"]))
    assert final["state"] == "failed" and final["counts"] == {"ok": 1, "failed": 1}
    assert final["progress"] == 1.0
    good, bad = final["items"]
    assert good["state"] == "ok" and good["batch_id"] == batch_id
    assert bad["state"] == "failed" and bad["error"] and bad["failed_stage"]
    # Items of a batch are cancelled with their batch, not one by one.
    refused = api.call("DELETE", f"/v1/dubs/{good['id']}")
    assert refused.status_code == 409 and decode(refused)["error"]["code"] == "part_of_batch"
    (post,) = webhook_receiver.posts_to("/hooks/batch")
    assert verify(post["body"], post["headers"][SIGNATURE_HEADER], WEBHOOK_SECRET)
    payload = json.loads(post["body"])
    assert payload["event"] == "batch.completed" and payload["counts"] == {"ok": 1, "failed": 1}


def test_cancel_a_queued_and_a_running_dub(api: Api) -> None:
    running = decode(api.call("POST", "/v1/dubs", json=api.dub_body(language="cancel1")))["id"]
    queued = decode(api.call("POST", "/v1/dubs", json=api.dub_body(language="cancel2")))["id"]
    cancelled = api.call("DELETE", f"/v1/dubs/{queued}")
    assert cancelled.status_code == 202
    assert decode(cancelled)["state"] == "cancelled"  # it never started: cancelled at once
    wait_for(api, f"/v1/dubs/{running}", lambda b: b["state"] == "running", timeout=120)
    time.sleep(3)  # let the pipeline get going
    assert api.call("DELETE", f"/v1/dubs/{running}").status_code == 202
    final = wait_for(api, f"/v1/dubs/{running}", terminal, timeout=120)
    assert final["state"] == "cancelled" and "cancelled" in final["error"]
    from pathlib import Path

    assert not Path(final["output_uri"]).exists(), "a cancelled dub left an output"
    again = api.call("DELETE", f"/v1/dubs/{running}")
    assert again.status_code == 409 and decode(again)["error"]["code"] == "already_finished"
