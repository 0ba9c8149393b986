"""Runs the API's requests: one named Ray actor queues them, one Ray task per request runs the
same catalog run as `lipdub run` (`pipelines.catalog_run.run_catalog`), its items going through
the runner's warm pipeline (`pipelines.warm_pipeline.WarmPipeline`: one long-lived execution whose
stage actors keep their models loaded) or, with ``api.warm_stages`` off, a pipeline of their own.

- The actor (`DubRunner`) is detached and named, so HTTP replicas come and go without losing it;
  it keeps at most ``api.max_running`` requests running and the rest queued, in arrival order.
- Its state is the record store: on (re)start it picks up every request still queued or running
  there, so a runner restart resumes the work (items already finished are skipped by the
  pipeline's own fingerprints).
- Cancelling kills the request's task (`ray.cancel(force=True)`); its items are taken out of the
  warm pipeline (queued ones dropped, running ones stop at their next stage and never publish,
  lipdub/cancel_marker.py), or, without warm stages, the pipeline's actors die with their owner.
  Outputs are written atomically, so nothing partial appears at the output.
- When a request ends, its webhook (if any) is delivered, signed, with retries, and each attempt
  is logged in the record.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any

import ray

from lipdub.api.records import RecordStore, utc_now
from lipdub.api.schemas import TERMINAL_STATES
from lipdub.api_settings import ApiSecrets
from lipdub.api.views import batch_status, dub_status, fields_from_result_row
from lipdub.config import PipelineConfig
from operators.base import describe_error

log = logging.getLogger(__name__)

RUNNER_NAME = "lipdub-api-runner"
RUNNER_NAMESPACE = "lipdub"
WARM_NAME = "lipdub-api-warm-pipeline"
# Requests the runner looks at when it (re)starts: the newest this many.
RESUME_SCAN_LIMIT = 5000


def request_dubs(store: RecordStore, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The dub records of a request: itself for a dub, its items for a batch."""
    if record["kind"] == "dub":
        return [record]  # a dub on its own, or an item of a batch
    return [item for item in (store.get(item_id) for item_id in record["items"]) if item is not None]


def _catalog_row(dub: dict[str, Any]) -> dict[str, Any]:
    from lipdub.catalog import catalog_item_row

    options = dub.get("options") or {}
    raw = {
        "item_id": dub["id"], "video_uri": dub["video_uri"], "audio_uri": dub["audio_uri"], "language": dub["language"],
        "output_uri": dub["output_uri"], "sync_mode": options.get("sync_mode"),
        "speaker_point": options.get("speaker_point"), "transcript": options.get("transcript"),
        "video_codec": options.get("video_codec"),
    }
    return catalog_item_row(raw, base="", output_root=None)


def execute_request(state_root: str, request_id: str, config: PipelineConfig, warm: Any = None) -> dict[str, Any]:
    """Run one request's items through the pipeline (``warm``: a `WarmPipeline` handle), updating
    their records as results arrive."""
    from functools import partial

    from pipelines.catalog_run import run_catalog
    from pipelines.warm_pipeline import stream_through, warm_config
    from lipdub.catalog import Catalog
    from lipdub.storage import join_uri

    store = RecordStore(state_root)
    record = store.get(request_id)
    if record is None:
        raise KeyError(f"no record {request_id}")
    dubs = request_dubs(store, record)
    started = utc_now()
    for dub in dubs:
        if dub["state"] not in TERMINAL_STATES:
            store.update(dub["id"], state="running", started_at=started)

    def on_row(row: dict[str, Any]) -> None:
        store.update(row["item_id"], **fields_from_result_row(row))

    if warm is None and config.api.max_running > 1:
        # Several per-request executions at once: with their actor stages asking for their full
        # CPUs, two wanted 5.2 of 4 logical CPUs and neither ever finished. Shares as warm stages.
        config = warm_config(config)
    clock = time.perf_counter()
    summary = run_catalog(
        f"api:{request_id}", catalog=Catalog(uri=f"api:{request_id}", rows=[_catalog_row(dub) for dub in dubs]),
        config=config, state_root=join_uri(state_root, "runs"), run_id=request_id, run_prefix="api", on_row=on_row,
        stream=partial(stream_through, warm) if warm is not None else None,
    )
    return {
        "wall_seconds": time.perf_counter() - clock, "output_frames": summary.output_frames,
        "cluster_cpus": float(ray.cluster_resources().get("CPU", 0.0)), "results_uri": summary.results_uri,
    }


@ray.remote(num_cpus=0, max_concurrency=64)
class DubRunner:
    """The queue of API requests (see the module docstring). Async actor: one event loop."""

    def __init__(self, state_root: str, config: PipelineConfig, secrets: ApiSecrets) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.store = RecordStore(state_root)
        self.state_root = state_root
        self.config = config
        self.secrets = secrets
        self.queue: collections.deque[str] = collections.deque()
        self.running: dict[str, ray.ObjectRef] = {}
        self.cancelled: set[str] = set()
        self.warm: ray.actor.ActorHandle | None = None
        self._resume()

    def _resume(self) -> None:
        """Queue what the store says is unfinished; it starts on the first call (needs the loop)."""
        ids = self.store.ids(newest_first=False)[-RESUME_SCAN_LIMIT:]
        for record_id in ids:
            record = self.store.get(record_id)
            # Batch items run with their batch, never on their own.
            if record and not record.get("batch_id") and record["state"] in ("queued", "running"):
                log.info("resuming %s (%s)", record_id, record["state"])
                self.queue.append(record_id)

    async def ping(self) -> dict[str, int]:
        """Queue lengths (the estimate shows them); also starts resumed work."""
        self._start_ready()
        return {"queued": len(self.queue), "running": len(self.running)}

    async def submit(self, request_id: str) -> None:
        if request_id not in self.queue and request_id not in self.running:
            self.queue.append(request_id)
        self._start_ready()

    def _warm_pipeline(self) -> ray.actor.ActorHandle | None:
        """The warm pipeline (started with the first request; it lives as long as this runner)."""
        if self.warm is None and self.config.api.warm_stages:
            from pipelines.warm_pipeline import WarmPipeline

            self.warm = WarmPipeline.options(name=WARM_NAME, namespace=RUNNER_NAMESPACE, get_if_exists=True).remote(self.config)
        return self.warm

    def _start_ready(self) -> None:
        while self.queue and len(self.running) < max(1, self.config.api.max_running):
            request_id = self.queue.popleft()
            task = ray.remote(execute_request).options(num_cpus=0, max_retries=0, name=f"lipdub-api:{request_id}")
            self.running[request_id] = task.remote(self.state_root, request_id, self.config, self._warm_pipeline())
            asyncio.get_running_loop().create_task(self._watch(request_id))

    async def cancel(self, request_id: str) -> bool:
        """Stop a queued or running request; False when it had already finished."""
        record = self.store.get(request_id)
        if record is None or record["state"] in TERMINAL_STATES:
            return False
        if request_id in self.queue:
            self.queue.remove(request_id)
            await self._finish(request_id, cancelled=True)
        elif request_id in self.running:
            self.cancelled.add(request_id)
            ray.cancel(self.running[request_id], force=True, recursive=True)
            if self.warm is not None:
                await self.warm.cancel.remote([dub["id"] for dub in request_dubs(self.store, record)])
        else:
            await self._finish(request_id, cancelled=True)
        return True

    async def _watch(self, request_id: str) -> None:
        error: str | None = None
        outcome: dict[str, Any] | None = None
        try:
            outcome = await self.running[request_id]
        except Exception as failure:  # noqa: BLE001 - any end of the task ends the request
            error = f"the run stopped: {describe_error(failure)}"
            log.warning("%s: %s", request_id, error)
        finally:
            self.running.pop(request_id, None)
        await self._finish(request_id, cancelled=request_id in self.cancelled, error=error, outcome=outcome)
        self.cancelled.discard(request_id)
        self._start_ready()

    async def _finish(self, request_id: str, *, cancelled: bool, error: str | None = None, outcome: dict[str, Any] | None = None) -> None:
        record = self.store.get(request_id)
        if record is None:
            return
        now = utc_now()
        reason = "cancelled by request" if cancelled else (error or "the run ended without a result for this item")
        # Close what the run left open; `update` returns the new record, so no second read.
        dubs = [
            dub if dub["state"] in TERMINAL_STATES
            else self.store.update(dub["id"], state="cancelled" if cancelled else "failed", error=reason, finished_at=now)
            for dub in request_dubs(self.store, record)
        ]
        failed = sum(1 for dub in dubs if dub["state"] != "ok")
        if record["kind"] == "batch":
            state = "cancelled" if cancelled else ("ok" if failed == 0 else "failed")
            record = self.store.update(
                request_id, state=state, finished_at=now, outcome=outcome,
                error=None if state == "ok" else (error or f"{failed} of {len(dubs)} items did not finish ok"),
            )
        else:
            record = self.store.update(request_id, outcome=outcome) if outcome is not None else dubs[0]
        if record.get("callback_url"):
            await self._deliver_webhook(record)

    async def _deliver_webhook(self, record: dict[str, Any]) -> None:
        from lipdub.api.webhooks import deliver

        if record["kind"] == "batch":
            event, payload = "batch.completed", batch_status(record, request_dubs(self.store, record))
        else:
            event, payload = "dub.completed", dub_status(record)
        payload.pop("webhook_deliveries", None)
        payload["event"] = event
        if not self.secrets.webhook_secret:
            log.error("%s: no webhook secret configured; callback not sent", record["id"])
            return
        api = self.config.api
        attempts = await asyncio.to_thread(
            deliver, record["callback_url"], payload, self.secrets.webhook_secret, event=event,
            attempts=api.webhook_attempts, backoff_s=api.webhook_backoff_s, timeout_s=api.webhook_timeout_s,
        )
        self.store.update(record["id"], webhook_deliveries=[attempt.to_json() for attempt in attempts])


def get_or_start_runner(state_root: str, config: PipelineConfig, secrets: ApiSecrets) -> ray.actor.ActorHandle:
    """The cluster's one runner (started on first use, restarted by Ray if its process dies).

    The webhook secret travels as an actor argument: Ray's forwarded environment carries no
    secrets (pipelines.ray_adapter.forwarded_env), and whoever can read Ray's control store can
    run code on the cluster anyway.
    """
    return DubRunner.options(
        name=RUNNER_NAME, namespace=RUNNER_NAMESPACE, lifetime="detached", get_if_exists=True, max_restarts=-1,
    ).remote(state_root, config, secrets)
