"""`lipdub eval loco CLIP...`: leave-one-clip-out training, then the hold-out protocol.

For each clip, a model is trained by the same job as ``lipdub train`` on every *other* clip (the
held-out clip's speech and face are never seen), then ``lipdub eval holdout`` dubs each clip's
first half with its second half's speech using that clip's model ("learned"), beside the rules
model, the naive loudness model and the untouched source, all in one run.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from pipelines.training_run import TrainRequest, run_training
from lipdub.config import PipelineConfig
from models.motion_training import TrainSettings
from pipelines.training_pipeline import video_name

log = logging.getLogger(__name__)

__all__ = ["run_loco"]


def run_loco(
    clips: list[str],
    *,
    out_dir: str,
    settings: TrainSettings,
    work_root: str | None = None,
    oracle_motion: bool = False,
) -> dict[str, Any]:
    from pipelines.evaluation.holdout import run_holdout

    folder = Path(out_dir)
    (folder / "models").mkdir(parents=True, exist_ok=True)
    config = PipelineConfig().with_overrides(work_root=work_root)
    videos = [str(Path(clip).resolve()) for clip in clips]
    checkpoints: dict[str, str] = {}
    train_seconds: dict[str, float] = {}
    for clip in clips:
        name = video_name(clip)
        started = time.perf_counter()
        request = TrainRequest(catalog_uri=videos, output_uri=str(folder / "models" / f"without_{name}.pt"),
                               settings=settings, validation_videos=0, exclude=(name,),
                               command=f"lipdub eval loco (fold without {name})")
        report = run_training(request, config)
        checkpoints[name] = report.output_uri
        train_seconds[name] = time.perf_counter() - started
        log.info("fold without %s: %d epochs in %.0f s", name, report.epochs_done, train_seconds[name])
    result = run_holdout(clips, oracle_motion=oracle_motion, work_root=work_root, out_dir=str(folder / "holdout"),
                         checkpoints=checkpoints)
    result["train_seconds"] = train_seconds
    result["settings"] = settings.to_dict()
    return result
