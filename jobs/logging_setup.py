"""Logging for the command line and jobs: our INFO lines, other libraries' warnings only."""
from __future__ import annotations

import logging
import sys

NOISY_LOGGERS = ("ray", "numba", "urllib3", "botocore", "s3fs", "fsspec", "matplotlib", "aiobotocore")


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
