"""What each API call does, apart from HTTP: check, record, hand to the runner, report.

`ApiService` holds no job state of its own (records live in the `RecordStore`, the queue in the
runner actor), so any number of HTTP replicas can serve, and a restarted replica picks up where
the last one stopped.

Every call acts for a `Caller` (a tenant, or an admin): records carry the tenant that made them,
and a record another tenant made is answered exactly like a missing one (404 "no dub with id
..."), so a tenant cannot tell another tenant's ids from unknown ones.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Any, Optional

from lipdub.api.errors import ApiError
from lipdub.api.estimate import expected_seconds, measured_fps_per_cpu, output_frames
from lipdub.api.records import RecordStore, new_id, utc_now
from lipdub.api.schemas import TERMINAL_STATES, BatchItem, BatchRequest, DubRequest, EstimateRequest
from lipdub.api.security import bearer_owner, token_id, unauthorized
from lipdub.api_settings import ApiSecrets
from lipdub.api.tenants import Caller, TenantPolicy, record_tenant, tenant_policies
from lipdub.api.views import batch_status, dub_status
from lipdub.config import PipelineConfig
from lipdub.storage import join_uri, uri_exists

log = logging.getLogger(__name__)

MAX_IDEMPOTENCY_KEY = 255


def api_state_root(config: PipelineConfig) -> str:
    return config.api.state_root or join_uri(config.work_root, "api")


class ApiService:
    def __init__(self, config: PipelineConfig, secrets: ApiSecrets, runner: Any) -> None:
        self.config = config
        self.api = config.api
        self.secrets = secrets
        self.runner = runner  # a DubRunner actor handle
        self.store = RecordStore(api_state_root(config))
        self._token_owners = secrets.token_owners()
        # Tenants without settings of their own, and admins, get the server's policy.
        self._server_policy, self._tenant_policies = tenant_policies(self.api)

    # --- checks -------------------------------------------------------------------------------

    def authorize(self, authorization: Optional[str]) -> Caller:
        """Who is calling (tenant and token id), or a 401."""
        tenant = bearer_owner(authorization, self._token_owners)
        if tenant is None:
            raise unauthorized(authorization)
        return Caller(tenant=tenant, token_id=token_id((authorization or "").split(" ", 1)[1]))

    def policy(self, caller: Caller) -> TenantPolicy:
        return self._tenant_policies.get(caller.tenant, self._server_policy)

    def _checked_item(self, item: BatchItem, record_id: str, caller: Caller) -> dict[str, Any]:
        policy = self.policy(caller)
        video = policy.inputs.check(item.video_uri, "video_uri")
        audio = policy.inputs.check(item.audio_uri, "audio_uri")
        for what, uri in (("video_uri", video), ("audio_uri", audio)):
            if not uri_exists(uri):
                raise ApiError(400, "input_not_found", f"{what} {uri} does not exist (or this server cannot read it)")
        if item.output_uri:
            output = policy.outputs.check(item.output_uri, "output_uri")
        elif policy.output_root:
            output = join_uri(policy.output_root, f"{record_id}.mp4")
        else:
            raise ApiError(400, "no_output_uri", "give output_uri: this server has no default output root")
        if not output.lower().endswith((".mp4", ".mov", ".mkv")):
            raise ApiError(400, "bad_uri", "output_uri must end in .mp4, .mov or .mkv")
        if item.options.video_codec:
            from lipdub.errors import InputError
            from lipdub.media.delivery import check_output_format

            try:
                check_output_format(output, item.options.video_codec)
            except InputError as error:
                raise ApiError(400, "bad_output_format", str(error)) from error
        return {
            "video_uri": video, "audio_uri": audio, "output_uri": output, "language": item.language,
            "options": item.options.model_dump(exclude_none=True),
        }

    def _checked_callback(self, url: Optional[str], caller: Caller) -> Optional[str]:
        if url is None:
            return None
        if not self.secrets.webhook_secret:
            raise ApiError(400, "webhooks_disabled", "this server has no webhook signing secret configured, so it sends no callbacks")
        return self.policy(caller).callbacks.check(url, "callback_url")

    def _idempotent_id(self, kind: str, caller: Caller, key: Optional[str], body: str) -> tuple[str, bool]:
        """(record id, whether it is new): a retried POST with the same key gets the first id."""
        record_id = new_id(kind)
        if key is None:
            return record_id, True
        if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
            raise ApiError(400, "bad_idempotency_key", f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable characters")
        digest = hashlib.sha256(f"{kind}\n{body}".encode()).hexdigest()
        claimed = self.store.claim_idempotency_key(caller.idempotency_scope, key, digest, record_id)
        # A claim whose record was never written (the replica died in between) is created now.
        return claimed, claimed == record_id or self.store.get(claimed) is None

    # --- dubs and batches ---------------------------------------------------------------------

    async def create_dub(self, request: DubRequest, caller: Caller, idempotency_key: Optional[str]) -> dict[str, Any]:
        record_id, new = self._idempotent_id("dub", caller, idempotency_key, request.model_dump_json())
        if new:
            callback = self._checked_callback(request.callback_url, caller)
            record = self._new_dub(request, record_id, None, caller, utc_now(), callback)
            self.store.put(record)
            await self.runner.submit.remote(record_id)
            log.info("dub %s queued for tenant %s: %s + %s -> %s", record_id, caller.tenant, record["video_uri"],
                     record["audio_uri"], record["output_uri"])
        return self.dub(record_id, caller)

    async def create_batch(self, request: BatchRequest, caller: Caller, idempotency_key: Optional[str]) -> dict[str, Any]:
        if len(request.items) > self.api.max_batch_items:
            raise ApiError(413, "batch_too_large", f"a batch holds at most {self.api.max_batch_items} items; this one has {len(request.items)}")
        batch_id, new = self._idempotent_id("batch", caller, idempotency_key, request.model_dump_json())
        if new:
            callback = self._checked_callback(request.callback_url, caller)
            now = utc_now()
            items = [self._new_dub(item, new_id("dub"), batch_id, caller, now, None) for item in request.items]
            for item in items:  # written only once every item passed its checks
                self.store.put(item)
            self.store.put({"id": batch_id, "kind": "batch", "state": "queued", "created_at": now, "caller": caller.token_id,
                            "tenant": caller.tenant, "callback_url": callback, "items": [item["id"] for item in items]})
            await self.runner.submit.remote(batch_id)
            log.info("batch %s queued for tenant %s: %d items", batch_id, caller.tenant, len(items))
        return self.batch(batch_id, caller)

    def _new_dub(self, item: BatchItem, dub_id: str, batch_id: Optional[str], caller: Caller, now: str, callback: Optional[str]) -> dict[str, Any]:
        """A checked, queued dub record (a dub on its own, or an item of ``batch_id``)."""
        return {"id": dub_id, "kind": "dub", "batch_id": batch_id, "state": "queued", "created_at": now,
                "caller": caller.token_id, "tenant": caller.tenant, "callback_url": callback,
                **self._checked_item(item, dub_id, caller)}

    def _record(self, record_id: str, kind: str, caller: Caller) -> dict[str, Any]:
        """The record, if `caller` may see it; else the same 404 as for an id that does not exist."""
        record = self.store.get(record_id)
        if record is None or record["kind"] != kind or not caller.sees(record):
            raise ApiError(404, "not_found", f"no {kind} with id {record_id!r}")
        return record

    def dub(self, dub_id: str, caller: Caller) -> dict[str, Any]:
        return dub_status(self._record(dub_id, "dub", caller))

    def batch(self, batch_id: str, caller: Caller) -> dict[str, Any]:
        record = self._record(batch_id, "batch", caller)
        items = [item for item in (self.store.get(item_id) for item_id in record["items"]) if item is not None]
        return batch_status(record, items)

    def list_dubs(self, limit: int, state: Optional[str], caller: Caller, tenant: Optional[str] = None) -> list[dict[str, Any]]:
        """The newest dubs `caller` may see; `tenant` narrows an admin's list to one tenant (for a
        tenant, any other name than its own gives an empty list, like a tenant with no dubs)."""
        limit = min(limit, self.api.list_limit * 10)
        views = []
        for record in self.store.records("dub"):
            if not caller.sees(record) or (tenant is not None and record_tenant(record) != tenant):
                continue
            if state is None or record["state"] == state:
                views.append(dub_status(record))
                if len(views) >= limit:
                    break
        return views

    async def cancel_dub(self, dub_id: str, caller: Caller) -> dict[str, Any]:
        record = self._record(dub_id, "dub", caller)
        if record.get("batch_id"):
            raise ApiError(409, "part_of_batch", f"dub {dub_id} is an item of batch {record['batch_id']}: cancel the batch")
        await self._cancel(record)
        return self.dub(dub_id, caller)

    async def cancel_batch(self, batch_id: str, caller: Caller) -> dict[str, Any]:
        await self._cancel(self._record(batch_id, "batch", caller))
        return self.batch(batch_id, caller)

    async def _cancel(self, record: dict[str, Any]) -> None:
        if record["state"] in TERMINAL_STATES:
            raise ApiError(409, "already_finished", f"{record['kind']} {record['id']} already finished ({record['state']})")
        await self.runner.cancel.remote(record["id"])

    # --- estimate -----------------------------------------------------------------------------

    async def estimate(self, request: EstimateRequest, caller: Caller) -> dict[str, Any]:
        """Frames and expected time of `request`, for inputs `caller` may read. The rate is
        measured on the caller's own finished requests; the queue length is the shared queue's
        (a count only: a tenant's dub waits behind every tenant's)."""
        import ray

        if len(request.items) > self.api.max_batch_items:
            raise ApiError(413, "batch_too_large", f"at most {self.api.max_batch_items} items per estimate")
        policy = self.policy(caller)
        items = []
        for item in request.items:
            video = policy.inputs.check(item.video_uri, "video_uri")
            audio = policy.inputs.check(item.audio_uri, "audio_uri")
            try:
                frames, seconds = output_frames(video, audio)
            except Exception as error:  # noqa: BLE001 - unreadable media is the caller's to fix
                raise ApiError(400, "unreadable_media", f"cannot read {video} / {audio}: {error}") from None
            items.append({"video_uri": video, "audio_uri": audio, "output_frames": frames, "output_seconds": seconds})
        resources = ray.cluster_resources()
        cpus, gpus = float(resources.get("CPU", 0.0)), float(resources.get("GPU", 0.0))
        outcomes = (r.get("outcome") or {} for r in self._recent_requests(caller))
        measured = measured_fps_per_cpu(outcomes, self.api.estimate_startup_s)
        rate = measured or self.api.estimate_fps_per_cpu
        total = sum(item["output_frames"] for item in items)
        queue = await self.runner.ping.remote()
        return {
            "items": items, "output_frames": total, "expected_compute_seconds": round(expected_seconds(total, cpus, rate, self.api), 1),
            "cluster_cpus": cpus, "cluster_gpus": gpus, "fps_per_cpu": round(rate, 3),
            "basis": "measured" if measured else "default", "queued_requests": queue["queued"] + queue["running"],
        }

    def _recent_requests(self, caller: Caller) -> list[dict[str, Any]]:
        from lipdub.api.estimate import MEASURED_WINDOW

        finished = []
        for record in self.store.records():
            if record.get("outcome") and record["state"] == "ok" and caller.sees(record):
                finished.append(record)
                if len(finished) >= MEASURED_WINDOW:
                    break
        return finished
