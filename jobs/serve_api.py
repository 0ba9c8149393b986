"""`lipdub serve`: run the HTTP API on Ray Serve until interrupted.

Refuses to start when the API would be open (no bearer token), useless (no input prefixes, no
output root) or its tenants misconfigured (a malformed LIPDUB_API_TENANT_TOKENS, a tenant's
prefixes wider than the server's): the message says which setting to fix.
"""
from __future__ import annotations

import logging
import signal
import threading

import typer

from lipdub.api_settings import ApiSecrets
from lipdub.config import PipelineConfig

log = logging.getLogger(__name__)


def run_server(config: PipelineConfig, *, host: str, port: int, address: str | None) -> None:
    from lipdub.api.deployment import check_startable, start_api, stop_api

    from lipdub.api.tenants import tenant_warnings

    try:
        secrets = ApiSecrets.from_env()
    except ValueError as error:  # the message names tenants and entries, never a token
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    problems = check_startable(config, secrets)
    if problems:
        for problem in problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(code=2)
    for warning in tenant_warnings(config.api, secrets):
        log.warning("%s", warning)
    tenants = secrets.tenants()
    log.info("tenants: %s; admin tokens: %d", ", ".join(f"{name} ({len(tokens)} tokens)" for name, tokens in sorted(tenants.items())) or "none",
             len(secrets.admin_tokens))
    url = start_api(config, secrets, host=host, port=port, address=address)
    typer.echo(f"lipdub API listening at {url} (OpenAPI: {url}/v1/openapi.json); Ctrl-C stops it")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        log.info("stopping the API (queued requests stay queued in the records and resume on the next start)")
        stop_api()
