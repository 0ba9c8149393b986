"""The nightly catalog run: ``lipdub nightly`` or ``python -m jobs.nightly`` under ``ray job submit``
(the run and its lock are `pipelines.catalog_run.run_nightly`).

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

from typing import Optional

import typer

from jobs import catalog_options
from jobs.dub_catalog import catalog_errors_exit, exit_code, load_config_or_exit
from lipdub.config import PipelineConfig

LOCKED_EXIT_CODE = 4


def run_nightly_cli(catalog_uri: str, *, config: PipelineConfig, output_root: Optional[str], state_root: Optional[str],
                    lock_hours: float, ray_address: Optional[str]) -> int:
    """The nightly run for a command line: prints the summary, returns the exit code."""
    from pipelines.catalog_run import NightlyLocked, run_nightly

    try:
        with catalog_errors_exit():
            summary = run_nightly(catalog_uri, config=config, output_root=output_root, state_root=state_root,
                                  lock_hours=lock_hours, ray_address=ray_address)
    except NightlyLocked as error:
        typer.echo(f"error: {error}", err=True)
        return LOCKED_EXIT_CODE
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
    motion_checkpoint: Optional[str] = catalog_options.MOTION_CHECKPOINT,
) -> None:
    from jobs.logging_setup import setup_logging

    setup_logging(False)
    raise typer.Exit(
        code=run_nightly_cli(
            catalog, output_root=output_root, config=load_config_or_exit(config_uri, work_root, motion_checkpoint), state_root=state_root,
            lock_hours=lock_hours, ray_address=ray_address,
        )
    )


if __name__ == "__main__":
    job()
