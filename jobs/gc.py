"""`lipdub gc` / ``python -m jobs.gc``: clean a work store and output root (see `lipdub.store_gc`).

Exit codes: 0 done (or, with --dry-run, listed), 2 bad options or config, 3 run records that
cannot be read (nothing removed).
"""
from __future__ import annotations

from typing import Optional

import typer

from jobs import catalog_options
from lipdub.store_gc import DEFAULT_TEMP_AGE_HOURS, GcSummary, RunRecordsUnreadable, collect_garbage


UNREADABLE_RECORDS_EXIT_CODE = 3

OLDER_THAN = typer.Option(..., "--older-than", min=0.0, help="Remove what no run used within this many days.")
DRY_RUN = typer.Option(False, "--dry-run", help="Only count what would go; remove nothing.")
TEMP_AGE_HOURS = typer.Option(
    DEFAULT_TEMP_AGE_HOURS, "--temp-age-hours", min=0.0,
    help="Nothing modified more recently than this is touched (a writer may still be at work).",
)
EXTRA_STATE_ROOTS = typer.Option(
    [], "--state-root",
    help="Another folder of run records to respect (repeatable); <output-root>/_lipdub and the work store's own are always read.",
)


def run_gc(
    older_than_days: float,
    *,
    work_root: Optional[str],
    output_root: Optional[str],
    config_uri: Optional[str],
    state_roots: list[str],
    dry_run: bool,
    temp_age_hours: float,
) -> GcSummary:
    """Collect garbage with the command line's defaults: the config's work root (and the API's
    state root, whose runs count as well)."""
    from jobs.dub_catalog import load_config_or_exit
    from lipdub.storage import join_uri

    config = load_config_or_exit(config_uri, work_root)
    roots = list(state_roots)
    if config.api.state_root:
        roots.append(join_uri(config.api.state_root, "runs"))
    return collect_garbage(
        config.work_root, output_root, older_than_days=older_than_days, dry_run=dry_run,
        state_roots=roots, temp_age_hours=temp_age_hours,
    )


def run_gc_cli(older_than_days: float, **options) -> tuple[int, Optional[GcSummary]]:
    """`run_gc` for command lines: (exit code, summary or None)."""
    try:
        return 0, run_gc(older_than_days, **options)
    except RunRecordsUnreadable as error:
        typer.echo(f"error: {error}", err=True)
        return UNREADABLE_RECORDS_EXIT_CODE, None


def gc_command(
    older_than: float = OLDER_THAN,
    dry_run: bool = DRY_RUN,
    work_root: Optional[str] = catalog_options.WORK_ROOT,
    output_root: Optional[str] = catalog_options.OUTPUT_ROOT,
    config_uri: Optional[str] = catalog_options.CONFIG,
    state_root: list[str] = EXTRA_STATE_ROOTS,
    temp_age_hours: float = TEMP_AGE_HOURS,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Clean the work store and output root: analyses, node-cache copies and per-item work dirs no
    run used within --older-than days, crashed publishers' leftovers and stale temporaries. What a
    run within the window or an unfinished run names is kept; run records and outputs always.
    Prints counts and bytes per kind. Exit 0 done, 3 unreadable run records (nothing removed)."""
    from jobs.logging_setup import setup_logging

    setup_logging(verbose)
    code, summary = run_gc_cli(
        older_than, work_root=work_root, output_root=output_root, config_uri=config_uri,
        state_roots=state_root, dry_run=dry_run, temp_age_hours=temp_age_hours,
    )
    if summary is not None:
        typer.echo(summary.to_json())
    raise typer.Exit(code=code)


# ``python -m jobs.gc`` (for ``ray job submit`` on a cluster head): the same options as ``lipdub gc``.
job = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
job.command()(gc_command)


if __name__ == "__main__":
    job()
