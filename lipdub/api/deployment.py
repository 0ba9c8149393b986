"""The Ray Serve application: a FastAPI ingress deployment in front of the runner actor.

`start_api` is what `lipdub serve` calls: Serve's HTTP proxy listens on the given host and port
(127.0.0.1:8000 by default), on the local embedded Ray or on a cluster (``--address``).
"""
from __future__ import annotations

import logging
from typing import Any

from ray import serve

from lipdub.api.serve_loopback import keep_replica_grpc_on_loopback
from lipdub.api_settings import ApiSecrets
from lipdub.config import PipelineConfig

log = logging.getLogger(__name__)

APP_NAME = "lipdub-api"


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=64)
@serve.ingress()
class LipdubApi:
    """One replica: stateless apart from a handle to the runner (records are in the store)."""

    def __init__(self, config: PipelineConfig, secrets: ApiSecrets) -> None:
        # In the replica, before Serve starts its gRPC server (after this constructor returns).
        keep_replica_grpc_on_loopback()
        from lipdub.api.runner import get_or_start_runner
        from lipdub.api.service import ApiService, api_state_root

        self.runner = get_or_start_runner(api_state_root(config), config, secrets)
        self.service = ApiService(config, secrets, self.runner)

    async def check_health(self) -> None:
        """Serve calls this every few seconds: it also wakes a restarted runner, which resumes
        the queued and running requests of the store on its first call. A runner that cannot
        answer makes this replica unhealthy; its replacement starts a new runner."""
        await self.runner.ping.remote()

    def __serve_build_asgi_app__(self) -> Any:
        from lipdub.api.app import build_app

        return build_app(self.service)


def check_startable(config: PipelineConfig, secrets: ApiSecrets) -> list[str]:
    """Reasons `lipdub serve` must not start (empty: fine)."""
    problems = []
    if not secrets.token_owners():
        problems.append("no bearer tokens: set LIPDUB_API_TOKENS (comma-separated) or LIPDUB_API_TENANT_TOKENS "
                        "(tenant=token1,token2;other=token3) in the server's environment")
    if not config.api.input_prefixes:
        problems.append("no input prefixes: set api.input_prefixes in the config (folders or URI prefixes the API may read)")
    if not config.api.output_root and not config.api.output_prefixes:
        problems.append("no outputs allowed: set api.output_root (and optionally api.output_prefixes) in the config")
    from lipdub.api.security import UriPolicy

    for name in ("input_prefixes", "output_prefixes", "callback_prefixes"):
        try:
            UriPolicy(frozenset(config.api.schemes), getattr(config.api, name))
        except ValueError as error:
            problems.append(f"api.{name}: {error}")
    from lipdub.api.tenants import tenant_problems

    return problems + tenant_problems(config.api, secrets)


def start_api(config: PipelineConfig, secrets: ApiSecrets, *, host: str = "127.0.0.1", port: int = 8000, address: str | None = None) -> str:
    """Deploy the API on Ray Serve and return its base URL (Serve keeps running after this)."""
    from pipelines.ray_adapter import ensure_ray

    ensure_ray(address)
    serve.start(http_options={"host": host, "port": port})
    serve.run(LipdubApi.bind(config, secrets), name=APP_NAME, route_prefix="/")
    url = f"http://{host}:{port}"
    log.info("lipdub API at %s (OpenAPI document at %s/v1/openapi.json)", url, url)
    return url


def stop_api() -> None:
    """Delete the application and its runner actor (queued work stays queued in the records)."""
    import ray

    from lipdub.api.runner import RUNNER_NAME, RUNNER_NAMESPACE

    serve.delete(APP_NAME)
    try:
        ray.kill(ray.get_actor(RUNNER_NAME, namespace=RUNNER_NAMESPACE))
    except ValueError:
        pass
