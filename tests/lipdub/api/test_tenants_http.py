"""Tenants through the real FastAPI app: every route, called by two tenants, the legacy "default"
tenant and an admin, over a real record store on disk.

The runner actor is the one stand-in (`RecordingRunner`): the real one starts a full pipeline run
per request (minutes of CPU per dub on this machine), and who may see or touch which record is
decided by the service before it calls the runner. tests/lipdub/api/serve runs the real runner.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

import pytest

from lipdub.api.app import build_app
from lipdub.api.records import RecordStore, new_id
from lipdub.api.service import ApiService, api_state_root
from lipdub.api_settings import ApiSecrets
from lipdub.config import config_from_mapping
from tests.lipdub.api.asgi_client import Response, call

ACME = ("tok-acme-1", "tok-acme-2")
GLOBEX = "tok-globex"
LEGACY = "tok-legacy"  # LIPDUB_API_TOKENS: the "default" tenant
ADMIN = "tok-admin"
HOOKS = "http://127.0.0.1:9/hooks/"  # never called: the runner stand-in sends no webhooks


class _Remote:
    """``handle.method.remote(*args)``, as a Ray actor handle spells a call; the service awaits it."""

    def __init__(self, method: Callable[..., Awaitable[Any]]) -> None:
        self.remote = method


@dataclass
class RecordingRunner:
    """The runner's three calls, recorded (see the module docstring for why not the real one)."""

    submitted: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.submit, self.cancel, self.ping = _Remote(self._submit), _Remote(self._cancel), _Remote(self._ping)

    async def _submit(self, request_id: str) -> None:
        self.submitted.append(request_id)

    async def _cancel(self, request_id: str) -> bool:
        self.cancelled.append(request_id)
        return True

    async def _ping(self) -> dict[str, int]:
        return {"queued": len(self.submitted) - len(self.cancelled), "running": 0}


@dataclass
class Server:
    app: Any
    runner: RecordingRunner
    store: RecordStore
    root: Path

    def call(self, method: str, path: str, token: Optional[str], body: Any = None, key: Optional[str] = None) -> Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if key is not None:
            headers["Idempotency-Key"] = key
        return call(self.app, method, path, headers=headers, json_body=body)

    def dub_body(self, tenant_folder: str, **overrides: Any) -> dict[str, Any]:
        folder = self.root / "in" / tenant_folder
        return {"video_uri": str(folder / "clip.mp4"), "audio_uri": str(folder / "dub.wav"), **overrides}

    def create(self, token: str, kind: str, body: dict[str, Any], key: Optional[str] = None) -> str:
        response = self.call("POST", f"/v1/{kind}", token, body, key)
        assert response.status_code == 202, response.body
        return response.json()["id"]


def write_inputs(folder: Path) -> None:
    folder.mkdir(parents=True)
    # Creating a dub checks only that the inputs exist; the stand-in runner never reads them.
    (folder / "clip.mp4").write_bytes(b"not read")
    (folder / "dub.wav").write_bytes(b"not read")


@pytest.fixture
def server(tmp_path: Path) -> Server:
    for tenant in ("acme", "globex", "shared"):
        write_inputs(tmp_path / "in" / tenant)
    config = config_from_mapping({
        "work_root": str(tmp_path / "work"),
        "api": {
            "input_prefixes": [str(tmp_path / "in")], "output_root": str(tmp_path / "out"),
            "callback_prefixes": [HOOKS], "max_batch_items": 5,
            "tenants": {
                "acme": {"input_prefixes": [str(tmp_path / "in" / "acme"), str(tmp_path / "in" / "shared")],
                         "output_root": str(tmp_path / "out" / "acme"), "callback_prefixes": [HOOKS + "acme/"]},
                "globex": {"input_prefixes": [str(tmp_path / "in" / "globex")], "output_root": str(tmp_path / "out" / "globex"),
                           "callback_prefixes": []},
            },
        },
    })
    secrets = ApiSecrets(tokens=(LEGACY,), tenant_tokens={"acme": ACME, "globex": (GLOBEX,)}, admin_tokens=(ADMIN,),
                         webhook_secret="whsec-test")
    runner = RecordingRunner()
    service = ApiService(config, secrets, runner)
    return Server(app=build_app(service), runner=runner, store=RecordStore(api_state_root(config)), root=tmp_path)


def not_found(kind: str, record_id: str) -> dict[str, Any]:
    """The 404 body of an id that does not exist: another tenant's id must get exactly this."""
    return {"error": {"code": "not_found", "message": f"no {kind} with id {record_id!r}"}}


def dub_ids(response: Response) -> set[str]:
    assert response.status_code == 200, response.body
    return {dub["id"] for dub in response.json()["dubs"]}


# --- POST /v1/dubs ------------------------------------------------------------------------------

def test_a_dub_records_its_tenant_and_goes_to_the_tenants_output_root(server: Server) -> None:
    dub_id = server.create(ACME[0], "dubs", server.dub_body("acme"))
    record = server.store.get(dub_id)
    assert record is not None and record["tenant"] == "acme"
    view = server.call("GET", f"/v1/dubs/{dub_id}", ACME[0]).json()
    assert view["tenant"] == "acme"
    assert view["output_uri"] == str(server.root / "out" / "acme" / f"{dub_id}.mp4")
    assert server.runner.submitted == [dub_id]


def test_the_legacy_tokens_are_the_default_tenant_with_the_global_settings(server: Server) -> None:
    # LIPDUB_API_TOKENS' callers keep what they had: every global input prefix and the global root.
    dub_id = server.create(LEGACY, "dubs", server.dub_body("acme"))
    view = server.call("GET", f"/v1/dubs/{dub_id}", LEGACY).json()
    assert view["tenant"] == "default"
    assert view["output_uri"] == str(server.root / "out" / f"{dub_id}.mp4")


@pytest.mark.parametrize(("token", "folder"), [(ACME[0], "globex"), (GLOBEX, "acme"), (GLOBEX, "shared")])
def test_a_tenant_cannot_read_inputs_outside_its_prefixes(server: Server, token: str, folder: str) -> None:
    response = server.call("POST", "/v1/dubs", token, server.dub_body(folder))
    assert response.status_code == 403 and response.json()["error"]["code"] == "uri_not_allowed"
    # The refusal lists the caller's own prefixes, never another tenant's folders.
    other = "globex" if token != GLOBEX else "acme"
    assert f"/in/{other}" not in response.json()["error"]["message"]
    assert server.runner.submitted == [] and server.store.ids() == []


def test_a_tenants_prefixes_narrow_and_do_not_add_to_the_global_ones(server: Server) -> None:
    acme_out = server.root / "out" / "acme"
    ok = server.call("POST", "/v1/dubs", ACME[0], server.dub_body("acme", output_uri=str(acme_out / "mine.mp4")))
    assert ok.status_code == 202
    for elsewhere in (server.root / "out" / "globex" / "x.mp4", server.root / "out" / "x.mp4"):  # another tenant's, the global root
        refused = server.call("POST", "/v1/dubs", ACME[0], server.dub_body("acme", output_uri=str(elsewhere)))
        assert refused.status_code == 403, elsewhere
    # The admin and the default tenant have the global settings: the global root is theirs.
    for token in (ADMIN, LEGACY):
        assert server.call("POST", "/v1/dubs", token, server.dub_body("globex", output_uri=str(server.root / "out" / "x.mp4"))).status_code == 202


def test_callbacks_follow_the_tenants_prefixes(server: Server) -> None:
    assert server.call("POST", "/v1/dubs", ACME[0], server.dub_body("acme", callback_url=HOOKS + "acme/done")).status_code == 202
    assert server.call("POST", "/v1/dubs", ACME[0], server.dub_body("acme", callback_url=HOOKS + "globex/done")).status_code == 403
    # globex's callback_prefixes is an empty list: no callbacks at all, though the server allows HOOKS.
    refused = server.call("POST", "/v1/dubs", GLOBEX, server.dub_body("globex", callback_url=HOOKS + "globex/done"))
    assert refused.status_code == 403
    assert server.call("POST", "/v1/dubs", LEGACY, server.dub_body("shared", callback_url=HOOKS + "any")).status_code == 202


def test_unknown_and_missing_tokens_are_401_on_every_route(server: Server) -> None:
    dub_id = server.create(ACME[0], "dubs", server.dub_body("acme"))
    routes = [("GET", "/v1/dubs"), ("POST", "/v1/dubs"), ("GET", f"/v1/dubs/{dub_id}"), ("DELETE", f"/v1/dubs/{dub_id}"),
              ("POST", "/v1/batches"), ("POST", "/v1/estimate")]
    for method, path in routes:
        for token in (None, "tok-acme", "tok-acme-1 "):
            response = server.call(method, path, token, server.dub_body("acme") if method == "POST" else None)
            assert response.status_code == 401, (method, path, token)
    assert server.runner.cancelled == []


# --- GET and DELETE /v1/dubs/{id} ---------------------------------------------------------------

def test_another_tenants_dub_is_exactly_an_unknown_dub(server: Server) -> None:
    dub_id = server.create(ACME[0], "dubs", server.dub_body("acme"))
    unknown = new_id("dub")
    for method in ("GET", "DELETE"):
        foreign = server.call(method, f"/v1/dubs/{dub_id}", GLOBEX)
        missing = server.call(method, f"/v1/dubs/{unknown}", GLOBEX)
        assert (foreign.status_code, missing.status_code) == (404, 404)
        assert foreign.json() == not_found("dub", dub_id) and missing.json() == not_found("dub", unknown)
        assert foreign.headers == missing.headers
        assert server.call(method, f"/v1/dubs/{dub_id}", LEGACY).json() == not_found("dub", dub_id)
    assert server.runner.cancelled == [], "a refused cancel reached the runner"
    assert server.store.get(dub_id)["state"] == "queued"


def test_every_token_of_a_tenant_and_the_admin_see_its_dub(server: Server) -> None:
    dub_id = server.create(ACME[0], "dubs", server.dub_body("acme"))
    for token in (*ACME, ADMIN):
        response = server.call("GET", f"/v1/dubs/{dub_id}", token)
        assert response.status_code == 200 and response.json()["tenant"] == "acme", token


def test_a_tenant_cancels_its_own_dub_and_the_admin_anyones(server: Server) -> None:
    mine = server.create(ACME[0], "dubs", server.dub_body("acme"))
    theirs = server.create(GLOBEX, "dubs", server.dub_body("globex"))
    assert server.call("DELETE", f"/v1/dubs/{mine}", ACME[1]).status_code == 202
    assert server.call("DELETE", f"/v1/dubs/{theirs}", ACME[0]).status_code == 404
    assert server.runner.cancelled == [mine]
    assert server.call("DELETE", f"/v1/dubs/{theirs}", ADMIN).status_code == 202
    assert server.runner.cancelled == [mine, theirs]


def test_a_batch_item_of_another_tenant_is_404_not_part_of_batch(server: Server) -> None:
    # A 409 "part of batch" would confirm that the id exists (and name the batch).
    batch_id = server.create(ACME[0], "batches", {"items": [server.dub_body("acme")]})
    item_id = server.call("GET", f"/v1/batches/{batch_id}", ACME[0]).json()["items"][0]["id"]
    refused = server.call("DELETE", f"/v1/dubs/{item_id}", GLOBEX)
    assert refused.status_code == 404 and refused.json() == not_found("dub", item_id)
    own = server.call("DELETE", f"/v1/dubs/{item_id}", ACME[0])
    assert own.status_code == 409 and own.json()["error"]["code"] == "part_of_batch"


# --- GET /v1/dubs -------------------------------------------------------------------------------

def test_each_tenant_lists_only_its_own_dubs_and_the_admin_all(server: Server) -> None:
    acme = {server.create(ACME[0], "dubs", server.dub_body("acme")) for _ in range(2)}
    globex = {server.create(GLOBEX, "dubs", server.dub_body("globex"))}
    legacy = {server.create(LEGACY, "dubs", server.dub_body("shared"))}
    batch_id = server.create(GLOBEX, "batches", {"items": [server.dub_body("globex")]})
    globex |= {item["id"] for item in server.call("GET", f"/v1/batches/{batch_id}", GLOBEX).json()["items"]}
    assert dub_ids(server.call("GET", "/v1/dubs", ACME[0])) == acme
    assert dub_ids(server.call("GET", "/v1/dubs", ACME[1])) == acme
    assert dub_ids(server.call("GET", "/v1/dubs", GLOBEX)) == globex
    assert dub_ids(server.call("GET", "/v1/dubs", LEGACY)) == legacy
    assert dub_ids(server.call("GET", "/v1/dubs?limit=500", ADMIN)) == acme | globex | legacy
    listed = server.call("GET", "/v1/dubs", ADMIN).json()["dubs"]
    assert {dub["id"]: dub["tenant"] for dub in listed} == {
        **{i: "acme" for i in acme}, **{i: "globex" for i in globex}, **{i: "default" for i in legacy}}


def test_the_tenant_filter_narrows_an_admins_list_and_never_widens_a_tenants(server: Server) -> None:
    acme = server.create(ACME[0], "dubs", server.dub_body("acme"))
    globex = server.create(GLOBEX, "dubs", server.dub_body("globex"))
    assert dub_ids(server.call("GET", "/v1/dubs?tenant=acme", ADMIN)) == {acme}
    assert dub_ids(server.call("GET", "/v1/dubs?tenant=globex&state=queued", ADMIN)) == {globex}
    assert dub_ids(server.call("GET", "/v1/dubs?tenant=nobody", ADMIN)) == set()
    assert dub_ids(server.call("GET", "/v1/dubs?tenant=globex", ACME[0])) == set()
    assert dub_ids(server.call("GET", "/v1/dubs?tenant=acme", ACME[0])) == {acme}
    assert server.call("GET", "/v1/dubs?tenant=Not%20A%20Name", ADMIN).status_code == 422


def test_the_limit_counts_the_callers_own_dubs(server: Server) -> None:
    mine = server.create(ACME[0], "dubs", server.dub_body("acme"))
    for _ in range(3):  # newer dubs of another tenant must not crowd it out of a short list
        server.create(GLOBEX, "dubs", server.dub_body("globex"))
    assert dub_ids(server.call("GET", "/v1/dubs?limit=1", ACME[0])) == {mine}


def test_records_from_before_tenants_belong_to_the_default_tenant(server: Server) -> None:
    old = new_id("dub")
    server.store.put({"id": old, "kind": "dub", "batch_id": None, "state": "ok", "created_at": "2026-01-01T00:00:00.000+00:00",
                      "caller": "0123456789abcdef", "video_uri": "/in/a.mp4", "audio_uri": "/in/a.wav", "language": "es",
                      "output_uri": "/out/a.mp4"})
    assert server.call("GET", f"/v1/dubs/{old}", LEGACY).json()["tenant"] == "default"
    assert server.call("GET", f"/v1/dubs/{old}", ADMIN).status_code == 200
    assert server.call("GET", f"/v1/dubs/{old}", ACME[0]).json() == not_found("dub", old)
    assert dub_ids(server.call("GET", "/v1/dubs", LEGACY)) == {old}
    assert dub_ids(server.call("GET", "/v1/dubs", GLOBEX)) == set()


# --- batches ------------------------------------------------------------------------------------

def test_a_batch_and_its_items_carry_the_tenant(server: Server) -> None:
    batch_id = server.create(GLOBEX, "batches", {"items": [server.dub_body("globex"), server.dub_body("globex", language="fr")]})
    view = server.call("GET", f"/v1/batches/{batch_id}", GLOBEX).json()
    assert view["tenant"] == "globex" and [item["tenant"] for item in view["items"]] == ["globex", "globex"]
    assert server.store.get(batch_id)["tenant"] == "globex"
    assert all(server.store.get(item["id"])["tenant"] == "globex" for item in view["items"])
    assert all(item["output_uri"].startswith(str(server.root / "out" / "globex") + "/") for item in view["items"])


def test_a_batch_item_outside_the_tenants_prefixes_refuses_the_whole_batch(server: Server) -> None:
    response = server.call("POST", "/v1/batches", GLOBEX, {"items": [server.dub_body("globex"), server.dub_body("acme")]})
    assert response.status_code == 403
    assert server.store.ids() == [] and server.runner.submitted == []


def test_another_tenants_batch_is_exactly_an_unknown_batch(server: Server) -> None:
    batch_id = server.create(ACME[0], "batches", {"items": [server.dub_body("acme")]})
    unknown = new_id("batch")
    for method in ("GET", "DELETE"):
        foreign = server.call(method, f"/v1/batches/{batch_id}", GLOBEX)
        missing = server.call(method, f"/v1/batches/{unknown}", GLOBEX)
        assert (foreign.status_code, missing.status_code) == (404, 404)
        assert foreign.json() == not_found("batch", batch_id) and missing.json() == not_found("batch", unknown)
    assert server.runner.cancelled == []
    assert server.call("GET", f"/v1/batches/{batch_id}", ACME[1]).status_code == 200
    assert server.call("GET", f"/v1/batches/{batch_id}", ADMIN).json()["tenant"] == "acme"
    assert server.call("DELETE", f"/v1/batches/{batch_id}", ADMIN).status_code == 202
    assert server.runner.cancelled == [batch_id]


def test_a_tenant_cancels_its_own_batch(server: Server) -> None:
    batch_id = server.create(GLOBEX, "batches", {"items": [server.dub_body("globex")]})
    response = server.call("DELETE", f"/v1/batches/{batch_id}", GLOBEX)
    assert response.status_code == 202 and response.json()["tenant"] == "globex"
    assert server.runner.cancelled == [batch_id]


# --- idempotency keys ---------------------------------------------------------------------------

def test_the_same_key_in_two_tenants_makes_two_requests(server: Server) -> None:
    acme = server.create(ACME[0], "dubs", server.dub_body("acme"), key="order-1")
    globex = server.create(GLOBEX, "dubs", server.dub_body("globex"), key="order-1")  # another body: no 409 across tenants
    assert acme != globex
    assert server.store.get(globex)["tenant"] == "globex"
    assert server.runner.submitted == [acme, globex]


def test_a_key_is_shared_by_the_tenants_tokens(server: Server) -> None:
    # A retry with the tenant's other token (say, mid-rotation) is still the same request.
    first = server.create(ACME[0], "dubs", server.dub_body("acme"), key="order-2")
    assert server.create(ACME[1], "dubs", server.dub_body("acme"), key="order-2") == first
    reused = server.call("POST", "/v1/dubs", ACME[1], server.dub_body("acme", language="fr"), key="order-2")
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_key_reused"
    assert server.runner.submitted == [first]


def test_a_batch_key_in_two_tenants_makes_two_batches(server: Server) -> None:
    acme = server.create(ACME[0], "batches", {"items": [server.dub_body("shared")]}, key="batch-key")
    globex = server.create(GLOBEX, "batches", {"items": [server.dub_body("globex")]}, key="batch-key")
    assert acme != globex
    assert server.create(ACME[0], "batches", {"items": [server.dub_body("shared")]}, key="batch-key") == acme


# --- the admin's own requests -------------------------------------------------------------------

def test_an_admins_own_dub_is_recorded_as_admin_and_hidden_from_tenants(server: Server) -> None:
    dub_id = server.create(ADMIN, "dubs", server.dub_body("acme"))
    assert server.call("GET", f"/v1/dubs/{dub_id}", ADMIN).json()["tenant"] == "admin"
    assert server.call("GET", f"/v1/dubs/{dub_id}", LEGACY).status_code == 404
    assert dub_ids(server.call("GET", "/v1/dubs?tenant=admin", ADMIN)) == {dub_id}


def test_the_openapi_document_shows_the_tenant(server: Server) -> None:
    document = server.call("GET", "/v1/openapi.json", None).json()
    schemas = document["components"]["schemas"]
    assert "tenant" in schemas["DubStatus"]["required"] and "tenant" in schemas["BatchStatus"]["required"]
    parameters = {p["name"] for p in document["paths"]["/v1/dubs"]["get"]["parameters"]}
    assert "tenant" in parameters


# --- POST /v1/estimate --------------------------------------------------------------------------

@pytest.fixture
def media_server(server: Server, demo_inputs, ray_local) -> Server:
    """`server` with the demo's real media in each tenant's folder (an estimate probes them)."""
    source, dub = demo_inputs
    for tenant in ("acme", "globex"):
        shutil.copyfile(source, server.root / "in" / tenant / "clip.mp4")
        shutil.copyfile(dub, server.root / "in" / tenant / "dub.wav")
    return server


def finished_request(tenant: str) -> dict[str, Any]:
    """A dub the runner finished, as it leaves the record: 1500 frames in 15 + 150 s on 2 cores."""
    return {"id": new_id("dub"), "kind": "dub", "batch_id": None, "state": "ok", "tenant": tenant,
            "created_at": "2026-01-01T00:00:00.000+00:00", "video_uri": "/in/a.mp4", "audio_uri": "/in/a.wav",
            "language": "es", "output_uri": "/out/a.mp4",
            "outcome": {"output_frames": 1500, "wall_seconds": 165.0, "cluster_cpus": 2.0}}


def test_a_tenant_estimates_only_its_own_inputs(media_server: Server) -> None:
    estimate = media_server.call("POST", "/v1/estimate", ACME[0], {"items": [media_server.dub_body("acme")]})
    assert estimate.status_code == 200, estimate.body
    assert estimate.json()["output_frames"] > 0
    refused = media_server.call("POST", "/v1/estimate", ACME[0], {"items": [media_server.dub_body("globex")]})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "uri_not_allowed"
    assert media_server.call("POST", "/v1/estimate", ADMIN, {"items": [media_server.dub_body("globex")]}).status_code == 200


def test_the_measured_rate_comes_from_the_callers_own_requests(media_server: Server) -> None:
    media_server.store.put(finished_request("globex"))
    basis = {}
    for name, token, folder in (("acme", ACME[0], "acme"), ("globex", GLOBEX, "globex"), ("admin", ADMIN, "acme")):
        body = media_server.call("POST", "/v1/estimate", token, {"items": [media_server.dub_body(folder)]}).json()
        basis[name] = (body["basis"], body["fps_per_cpu"])
    assert basis["acme"][0] == "default"
    assert basis["globex"] == ("measured", pytest.approx(5.0)) and basis["admin"] == ("measured", pytest.approx(5.0))
