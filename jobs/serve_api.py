"""`lipdub serve`: run the HTTP API on Ray Serve until interrupted.

Refuses to start when the API would be open (no bearer token) or useless (no input prefixes, no
output root): the message says which setting to add.
"""
from __future__ import annotations

import logging
import signal
import threading

import typer

from lipdub.api.settings import ApiSecrets
from lipdub.config import PipelineConfig

log = logging.getLogger(__name__)


def run_server(config: PipelineConfig, *, host: str, port: int, address: str | None) -> None:
    from lipdub.api.deployment import check_startable, start_api, stop_api

    secrets = ApiSecrets.from_env()
    problems = check_startable(config, secrets)
    if problems:
        for problem in problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(code=2)
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
