"""The catalog job: dub every item of a catalog manifest on Ray, resumably.

Run it locally (``lipdub run CATALOG --output-root ...``) or on a cluster::

    ray job submit --working-dir . -- python -m jobs.dub_catalog --catalog s3://b/catalog/ --output-root s3://b/dubbed/

Steps: read and validate the catalog (a broken catalog stops here, before any work) -> sort its
rows into run / skip using earlier runs' results (`lipdub.run_state`) -> stream the rest through
the same Ray Data plan as ``lipdub dub`` -> record each result as it arrives (`lipdub.results`)
-> write the run's results manifest and summary, also after Ctrl-C or a crash of the plan.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Callable, Optional

import typer

from jobs import catalog_options

from lipdub.catalog import Catalog, read_catalog
from lipdub.config import PipelineConfig, load_config
from lipdub.fingerprint import combine
from lipdub.item_row import rows_to_table
from lipdub.results import CLOSE_RETRY_SECONDS, ResultsKeptLocally, ResultsWriter, RunSummary, new_run_id, retry_storage_write
from lipdub.run_state import RunPlan, plan_run
from lipdub.storage import atomic_output, join_uri
from lipdub.store_gc import sweep_stale_temporaries

log = logging.getLogger(__name__)

STATE_DIR = "_lipdub"
LATEST_FILE = "latest.json"
#: The run ended, but its records could not be written to the state root: they are in a local folder.
RESULTS_KEPT_LOCALLY_EXIT_CODE = 5


def default_state_root(catalog_uri: str, output_root: str | None, config: PipelineConfig) -> str:
    """Run records live beside the outputs (``<output_root>/_lipdub``), else in the work store."""
    if output_root:
        return join_uri(output_root, STATE_DIR)
    return join_uri(config.work_root, "state", combine(catalog_uri))


RowCallback = Callable[[dict[str, Any]], None]


def _stream_results(
    plan: RunPlan, config: PipelineConfig, writer: ResultsWriter, ray_address: str | None, on_row: RowCallback | None
) -> None:
    import ray

    from pipelines.dub_pipeline import build_dub_dataset
    from pipelines.ray_adapter import ensure_ray

    ensure_ray(ray_address)
    items = ray.data.from_arrow(rows_to_table(plan.to_run))
    total = len(plan.to_run)
    progress = _progress_bar(total)
    done = 0
    try:
        for batch in build_dub_dataset(items, config).iter_batches(batch_size=None, batch_format="pyarrow"):
            for row in batch.to_pylist():
                writer.add(row)
                if on_row:
                    on_row(row)
                done += 1
                progress.update(1)
                log.info("[%d/%d] %s: %s%s", done, total, row["item_id"], row["status"], f" ({row['error']})" if row.get("error") else "")
    finally:
        progress.close()


def _progress_bar(total: int):
    from tqdm import tqdm

    return tqdm(total=total, unit="item", desc="dubbing", disable=not sys.stderr.isatty())


def run_catalog(
    catalog_uri: str,
    *,
    output_root: str | None = None,
    config: PipelineConfig | None = None,
    state_root: str | None = None,
    force: bool = False,
    run_id: str | None = None,
    run_prefix: str = "run",
    ray_address: str | None = None,
    catalog: Catalog | None = None,
    on_row: RowCallback | None = None,
) -> RunSummary:
    """Dub a catalog; return the run's summary. Raises `CatalogError` for an unusable catalog.

    ``on_row`` sees each item's result row as it is recorded (the HTTP API updates its job
    records from it), skipped and early-failed items included.
    """
    config = config or PipelineConfig()
    started = time.perf_counter()
    catalog = catalog or read_catalog(catalog_uri, output_root)
    state_root = state_root or default_state_root(catalog_uri, output_root, config)
    run_id = run_id or new_run_id(run_prefix)
    sweep_stale_temporaries(output_root, state_root, config.work_root)  # of writers that died; never raises
    plan = plan_run(catalog.rows, config, state_root, force=force)
    log.info("catalog %s: %d items; plan %s; run %s", catalog_uri, len(catalog), json.dumps(plan.reasons, sort_keys=True), run_id)
    writer = ResultsWriter(state_root, run_id)
    for row in plan.failed_early:
        writer.add(row)
    for row in plan.skipped:
        writer.add(row, record=False)
    if on_row:
        for row in plan.failed_early + plan.skipped:
            on_row(row)
    try:
        if plan.to_run:
            _stream_results(plan, config, writer, ray_address, on_row)
    finally:
        # Also on Ctrl-C or a failed plan: what finished is recorded, the rest is marked pending.
        # Storage down for good: close raises ResultsKeptLocally (records in a local folder), and
        # latest.json is not written (it would point at results that are not there).
        summary = writer.close(
            catalog_uri=catalog_uri, pending=plan.to_run, wall_seconds=time.perf_counter() - started, plan_reasons=plan.reasons
        )
        _write_latest(state_root, summary)
        log.info(
            "run %s: %d ok, %d failed, %d skipped, %d pending; %.1f output fps, %.0f items/hour; results %s",
            run_id, summary.ok, summary.failed, summary.skipped, summary.pending, summary.output_fps, summary.items_per_hour, summary.results_uri,
        )
    return summary


def _write_latest(state_root: str, summary: RunSummary) -> None:
    uri = join_uri(state_root, LATEST_FILE)

    def write() -> None:
        with atomic_output(uri, suffix=".json") as temporary, open(temporary, "w") as handle:
            json.dump({"run_id": summary.run_id, "results_uri": summary.results_uri}, handle)

    retry_storage_write(write, uri, retry_seconds=CLOSE_RETRY_SECONDS)


def exit_code(summary: RunSummary) -> int:
    """0: every item ok or skipped; 3: the run finished but some items failed or are pending."""
    return 0 if summary.failed == 0 and summary.pending == 0 else 3


# ``python -m jobs.dub_catalog`` (the entry point for ``ray job submit``): same options as ``lipdub run``.
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
    run_prefix: str = typer.Option("run", "--run-prefix", help="Prefix of the run id (nightly runs use 'nightly')."),
) -> None:
    from jobs.logging_setup import setup_logging

    setup_logging(False)
    summary = run_with_cli_errors(
        catalog, output_root=output_root, config_uri=config_uri, work_root=work_root, state_root=state_root,
        force=force, ray_address=ray_address, run_prefix=run_prefix,
    )
    print(summary.to_json())  # noqa: T201 - the job's result on stdout, for `ray job logs`
    raise typer.Exit(code=exit_code(summary))


def load_config_or_exit(config_uri: str | None, work_root: str | None) -> PipelineConfig:
    """The config for a command line: an unusable config file exits 2 with its message."""
    try:
        return load_config(config_uri).with_overrides(work_root=work_root)
    except (ValueError, TypeError, OSError) as error:
        typer.echo(f"error: bad config {config_uri}: {error}", err=True)
        raise typer.Exit(code=2) from error


def run_with_cli_errors(catalog_uri: str, *, config_uri: str | None, work_root: str | None, **options: Any) -> RunSummary:
    """`run_catalog` for command lines: an unusable catalog or config exits 2 with its message;
    records that storage would not take (kept in a local folder instead) exit 5, saying where."""
    from lipdub.catalog import CatalogError

    config = load_config_or_exit(config_uri, work_root)
    try:
        return run_catalog(catalog_uri, config=config, **options)
    except CatalogError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    except ResultsKeptLocally as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=RESULTS_KEPT_LOCALLY_EXIT_CODE) from error


if __name__ == "__main__":
    job()
