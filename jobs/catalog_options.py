"""Command-line options shared by the commands that dub (`lipdub dub`, `run`, `nightly`, `serve`) and their
`python -m` job entry points: one option, one meaning, one help text."""
from __future__ import annotations

from enum import Enum

import typer

from lipdub.timeline import SYNC_MODES

# The five sync modes as a typer choice, so `--help` lists them and a typo is refused at once.
SyncMode = Enum("SyncMode", {mode: mode for mode in SYNC_MODES}, type=str)  # type: ignore[misc]

OUTPUT_ROOT = typer.Option(None, "--output-root", help="Outputs go to <root>/<language>/<item_id>.mp4 unless the catalog names output_uri.")
CONFIG = typer.Option(None, "--config", help="YAML/JSON config file (per-stage resources, encode, ...).")
WORK_ROOT = typer.Option(None, "--work-root", help="Work store for cached analyses (a shared URI such as s3://... on clusters).")
STATE_ROOT = typer.Option(None, "--state-root", help="Where run records go (default <output-root>/_lipdub).")
FORCE = typer.Option(False, "--force", help="Redo every item, even those finished before.")
RAY_ADDRESS = typer.Option(None, "--address", help="Ray address (default: RAY_ADDRESS, else a local Ray).")
LOCK_HOURS = typer.Option(20.0, "--lock-hours", help="A nightly lock older than this is taken to be stale.")
CATALOG_OPTION = typer.Option(..., "--catalog", help="Catalog manifest: a Parquet file, a prefix of Parquet files, or a CSV (local or s3://...).")
MOTION_CHECKPOINT = typer.Option(
    None, "--motion-checkpoint",
    help="Learned motion model: a `lipdub train` checkpoint (path or URI), `builtin:NAME`, or `none` for the rules model alone. "
         "Default: the config's (the shipped model).",
)
SYNC_MODE = typer.Option(
    None, "--sync-mode", case_sensitive=False,
    help="How the video fits the dub's length: cut_off, loop, bounce (ping-pong), silence (pad the dub) or remap (stretch the video). "
         "Default: bounce when the dub is longer than the video, else cut_off.",
)
