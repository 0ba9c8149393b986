"""``python -m jobs.dub_catalog``: the catalog run as a job (the entry point for ``ray job submit``);
``lipdub run`` is the same. The run itself is `pipelines.catalog_run.run_catalog`::

    ray job submit --working-dir . -- python -m jobs.dub_catalog --catalog s3://b/catalog/ --output-root s3://b/dubbed/

Exit codes: 0 all ok or skipped, 2 unusable catalog or config, 3 some items failed or pending,
5 storage refused the run's records, kept in a local folder instead (the error says where).
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Iterator, Optional

import typer

from jobs import catalog_options
from lipdub.config import PipelineConfig, load_config
from lipdub.results import RunSummary

#: The run ended, but its records could not be written to the state root: they are in a local folder.
RESULTS_KEPT_LOCALLY_EXIT_CODE = 5


def exit_code(summary: RunSummary) -> int:
    """0: every item ok or skipped; 3: the run finished but some items failed or are pending."""
    return 0 if summary.failed == 0 and summary.pending == 0 else 3


def load_config_or_exit(config_uri: str | None, work_root: str | None, motion_checkpoint: str | None = None) -> PipelineConfig:
    """The config for a command line: the file's (or the defaults), with the command's overrides
    (``--work-root``, ``--motion-checkpoint``, where "none" means the rules alone). An unusable
    config file exits 2 with its message."""
    try:
        config = load_config(config_uri).with_overrides(work_root=work_root)
    except (ValueError, TypeError, OSError) as error:
        typer.echo(f"error: bad config {config_uri}: {error}", err=True)
        raise typer.Exit(code=2) from error
    if motion_checkpoint is not None:
        config = dataclasses.replace(config, motion_checkpoint=None if motion_checkpoint.lower() == "none" else motion_checkpoint)
    return config


@contextlib.contextmanager
def catalog_errors_exit() -> Iterator[None]:
    """An unusable catalog exits 2 with its message; records that storage would not take (kept in
    a local folder instead) exit 5, saying where."""
    from lipdub.catalog import CatalogError
    from lipdub.results import ResultsKeptLocally

    try:
        yield
    except CatalogError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    except ResultsKeptLocally as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=RESULTS_KEPT_LOCALLY_EXIT_CODE) from error


def run_catalog_cli(catalog_uri: str, *, config: PipelineConfig, **options: object) -> RunSummary:
    """`run_catalog` with the command line's exits for an unusable catalog or lost records."""
    from pipelines.catalog_run import run_catalog

    with catalog_errors_exit():
        return run_catalog(catalog_uri, config=config, **options)  # type: ignore[arg-type]


job = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@job.command()
def main(
    catalog: str = catalog_options.CATALOG_OPTION,
    output_root: Optional[str] = catalog_options.OUTPUT_ROOT,
    config_uri: Optional[str] = catalog_options.CONFIG,
    work_root: Optional[str] = catalog_options.WORK_ROOT,
    state_root: Optional[str] = catalog_options.STATE_ROOT,
    force: bool = catalog_options.FORCE,
    ray_address: Optional[str] = catalog_options.RAY_ADDRESS,
    motion_checkpoint: Optional[str] = catalog_options.MOTION_CHECKPOINT,
    run_prefix: str = typer.Option("run", "--run-prefix", help="Prefix of the run id (nightly runs use 'nightly')."),
) -> None:
    from jobs.logging_setup import setup_logging

    setup_logging(False)
    summary = run_catalog_cli(
        catalog, config=load_config_or_exit(config_uri, work_root, motion_checkpoint), output_root=output_root,
        state_root=state_root, force=force, ray_address=ray_address, run_prefix=run_prefix,
    )
    print(summary.to_json())  # noqa: T201 - the job's result on stdout, for `ray job logs`
    raise typer.Exit(code=exit_code(summary))


if __name__ == "__main__":
    job()
