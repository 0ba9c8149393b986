"""``python -m jobs.train_motion ...`` (the entry point for ``ray job submit``): the same options as
``lipdub train``; the run itself is `pipelines.training_run.run_training`::

    ray job submit --working-dir . -- python -m jobs.train_motion CATALOG --output s3://.../motion.pt
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from jobs.cli import app

    # As `lipdub train ...`, also in the card's record of the command (read from sys.argv).
    sys.argv = ["lipdub", "train", *(sys.argv[1:] if argv is None else argv)]
    app()


if __name__ == "__main__":
    main()
