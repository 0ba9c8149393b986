"""The nightly catalog run: ``lipdub nightly`` or ``python -m jobs.nightly`` under ``ray job submit``.

A nightly run is a catalog run (new and changed items are dubbed, finished ones skipped, failures
retried) that first takes a lock under the state root, so that a schedule firing while last
night's run is still going does not dub the same catalog twice. A lock older than
``lock_hours`` (a run killed without cleaning up) is taken over, with a warning.

An earlier run that did not finish (its driver was killed: no results.parquet, only result parts)
is logged as a warning at the start; what it recorded still counts: its ok items are skipped, its
failed ones and the items it never reached are run again (`lipdub.run_state`).

Exit codes: 0 all ok, 2 unusable catalog or config, 3 some items failed or pending, 4 locked,
5 storage refused the run's records, kept in a local folder instead (the error says where).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from typing import Optional

import typer

from jobs import catalog_options

from lipdub.config import load_config
from lipdub.storage import filesystem_for, join_uri, open_uri, uri_exists

log = logging.getLogger(__name__)

LOCK_FILE = "nightly.lock"
LOCKED_EXIT_CODE = 4


class NightlyLocked(RuntimeError):
    pass


def _lock_age_hours(lock_uri: str) -> tuple[float, dict]:
    with open_uri(lock_uri, "rb") as handle:
        holder = json.loads(handle.read() or b"{}")
    started = dt.datetime.fromisoformat(holder.get("started_at", "1970-01-01T00:00:00+00:00"))
    return (dt.datetime.now(dt.timezone.utc) - started).total_seconds() / 3600, holder


def acquire_lock(state_root: str, lock_hours: float) -> str:
    lock_uri = join_uri(state_root, LOCK_FILE)
    if uri_exists(lock_uri):
        age, holder = _lock_age_hours(lock_uri)
        if age < lock_hours:
            raise NightlyLocked(f"another nightly run holds {lock_uri} (started {age:.1f} h ago by {holder.get('host')} pid {holder.get('pid')})")
        log.warning("taking over a stale nightly lock (%.1f h old, held by %s)", age, holder)
    fs = filesystem_for(lock_uri)
    fs.makedirs(fs._parent(fs._strip_protocol(lock_uri)), exist_ok=True)
    holder = {"host": socket.gethostname(), "pid": os.getpid(), "started_at": dt.datetime.now(dt.timezone.utc).isoformat()}
    with open_uri(lock_uri, "wb") as handle:
        handle.write(json.dumps(holder).encode())
    return lock_uri


def release_lock(lock_uri: str) -> None:
    fs = filesystem_for(lock_uri)
    try:
        fs.rm(fs._strip_protocol(lock_uri))
    except FileNotFoundError:
        pass


def run_nightly_cli(
    catalog_uri: str,
    *,
    output_root: Optional[str],
    config_uri: Optional[str],
    work_root: Optional[str],
    state_root: Optional[str],
    lock_hours: float,
    ray_address: Optional[str],
) -> int:
    from jobs.dub_catalog import default_state_root, exit_code, run_with_cli_errors

    config = load_config(config_uri).with_overrides(work_root=work_root)
    state_root = state_root or default_state_root(catalog_uri, output_root, config)
    try:
        lock_uri = acquire_lock(state_root, lock_hours)
    except NightlyLocked as error:
        typer.echo(f"error: {error}", err=True)
        return LOCKED_EXIT_CODE
    try:
        summary = run_with_cli_errors(
            catalog_uri, output_root=output_root, config_uri=config_uri, work_root=work_root, state_root=state_root,
            run_prefix="nightly", ray_address=ray_address,
        )
    finally:
        release_lock(lock_uri)
    typer.echo(summary.to_json())
    return exit_code(summary)


job = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@job.command()
def main(
    catalog: str = catalog_options.CATALOG_OPTION,
    output_root: Optional[str] = catalog_options.OUTPUT_ROOT,
    config_uri: Optional[str] = catalog_options.CONFIG,
    work_root: Optional[str] = catalog_options.WORK_ROOT,
    state_root: Optional[str] = catalog_options.STATE_ROOT,
    lock_hours: float = catalog_options.LOCK_HOURS,
    ray_address: Optional[str] = catalog_options.RAY_ADDRESS,
) -> None:
    from jobs.logging_setup import setup_logging

    setup_logging(False)
    raise typer.Exit(
        code=run_nightly_cli(
            catalog, output_root=output_root, config_uri=config_uri, work_root=work_root, state_root=state_root, lock_hours=lock_hours, ray_address=ray_address
        )
    )


if __name__ == "__main__":
    job()
