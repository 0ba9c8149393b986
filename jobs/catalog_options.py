"""Command-line options shared by `lipdub run`, `lipdub nightly` and their `python -m` job entry points."""
from __future__ import annotations

import typer

OUTPUT_ROOT = typer.Option(None, "--output-root", help="Outputs go to <root>/<language>/<item_id>.mp4 unless the catalog names output_uri.")
CONFIG = typer.Option(None, "--config", help="YAML/JSON config file (per-stage resources, encode, ...).")
WORK_ROOT = typer.Option(None, "--work-root", help="Work store for cached analyses (a shared URI such as s3://... on clusters).")
STATE_ROOT = typer.Option(None, "--state-root", help="Where run records go (default <output-root>/_lipdub).")
FORCE = typer.Option(False, "--force", help="Redo every item, even those finished before.")
RAY_ADDRESS = typer.Option(None, "--address", help="Ray address (default: RAY_ADDRESS, else a local Ray).")
LOCK_HOURS = typer.Option(20.0, "--lock-hours", help="A nightly lock older than this is taken to be stale.")
CATALOG_OPTION = typer.Option(..., "--catalog", help="Catalog manifest: a Parquet file, a prefix of Parquet files, or a CSV (local or s3://...).")
