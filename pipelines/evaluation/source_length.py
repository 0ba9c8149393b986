"""`lipdub eval source-length`: how the speaker calibration uses 2 s, 5 s or 30 s of the source.

A dub's motion is calibrated on the source video's own speech and mouth; a short source must lean
on the general model, a long one may trust the speaker. This protocol needs one person with many
clips (GRID's speaker s1: 200 clips of 3 s, none of them in lipdub-motion-v1's training data):
``targets`` of the person's clips are held out; for each source length, a source is the person's
other clips joined end to end and cut to that length (``draws`` different stretches per length);
each model is fitted on it and predicts every target clip's mouth from the target's own speech,
compared with the target's real mouth (opening and width r, jitter ratio). A one-frame source shows
the general model (nothing to calibrate on); the issue asks that longer sources do no worse.

Uses the work store's cached analyses (as ``lipdub eval people --fast``); no rendering.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from lipdub.config import PipelineConfig
from models.people_split import DEFAULT_MEDIA, load_split
from pipelines.evaluation.speech_parts import join_speech, slice_speech

log = logging.getLogger(__name__)

__all__ = ["run_source_length_eval", "DEFAULT_PERSON", "DEFAULT_SECONDS"]

DEFAULT_PERSON = "grid_s1"
DEFAULT_SECONDS = (0.04, 2.0, 5.0, 30.0)  # 0.04 s: a one-frame source at 25 fps


def clips_of_person(person: str, media: Path = DEFAULT_MEDIA, split: dict[str, Any] | None = None) -> list[Path]:
    split = split or load_split()
    for members in split["groups"].values():
        if person in members:
            return [media / clip for clip in sorted(members[person]["clips"])]
    raise ValueError(f"no person {person!r} in the people split")


class _Clip:
    """One analysed clip: its speech (cut to the video's length), measured mouth and landmarks."""

    def __init__(self, row: dict[str, Any]) -> None:
        from lipdub.face.analysis_record import FaceAnalysis
        from lipdub.work_store import fetch_member
        from operators.move import read_speech

        faces = FaceAnalysis.from_npz(str(fetch_member(row["analysis_uri"])))
        self.fps, n = float(faces.fps), faces.n_frames
        speech = read_speech(row["dub_speech_uri"])
        self.n = min(n, int(np.floor(speech.duration_s * self.fps)))
        self.speech = slice_speech(speech, 0.0, self.n / self.fps)
        self.measured = faces.mouth_measurements(missing=np.nan).astype(np.float64)[: self.n]
        self.landmarks = np.asarray(faces.landmarks[: self.n])


def _source(pool: list[_Clip], start: int, seconds: float) -> tuple[Any, np.ndarray, np.ndarray, float]:
    """The pool's clips from ``start`` on (cyclically), joined and cut to ``seconds``."""
    fps = pool[0].fps
    frames = max(int(round(seconds * fps)), 1)
    parts, total, k = [], 0, start
    while total < frames:
        clip = pool[k % len(pool)]
        parts.append(clip)
        total += clip.n
        k += 1
        if k - start > len(pool):
            raise ValueError(f"the person's other clips hold less than {seconds} s")
    speech = slice_speech(join_speech([c.speech for c in parts]), 0.0, frames / fps)
    measured = np.concatenate([c.measured for c in parts])[:frames]
    landmarks = np.concatenate([c.landmarks for c in parts])[:frames]
    return speech, measured, landmarks, fps


def run_source_length_eval(
    *,
    person: str = DEFAULT_PERSON,
    seconds: tuple[float, ...] = DEFAULT_SECONDS,
    checkpoints: dict[str, str] | None = None,
    targets: int = 20,
    draws: int = 3,
    media: Path = DEFAULT_MEDIA,
    work_root: str | None = None,
) -> dict[str, Any]:
    """Per source length and model: mean over draws of the mean over target clips of r and jitter."""
    from models.learned_motion import LearnedMotionModel
    from models.motion_checkpoint import cached_checkpoint
    from models.speaker_calibration import CalibratedMotionModel
    from pipelines.evaluation.holdout import correlations, jitter_ratio
    from pipelines.evaluation.people import trained_on
    from pipelines.ray_adapter import ensure_ray
    from pipelines.training_pipeline import analyse_videos, video_name, video_rows

    checkpoints = dict(checkpoints or {"v1": "builtin:lipdub-motion-v1"})  # v1 never saw grid_s1; v2 did
    longest = max(seconds)
    paths = clips_of_person(person, Path(media))
    # Enough clips for the targets and the longest source's draws (3 s GRID clips: ~10 per 30 s).
    needed = targets + int(np.ceil((longest + 3.0 * draws) / 2.5)) + draws
    paths = [p for p in paths if p.exists()][:needed]
    rows, _ = video_rows([{"item_id": video_name(str(p)), "video_uri": str(p)} for p in paths])
    ensure_ray()
    analysed = analyse_videos(rows, PipelineConfig().with_overrides(work_root=work_root))
    ok = sorted((r for r in analysed if r.get("status") != "failed"), key=lambda r: video_name(r["video_uri"]))
    clips = [_Clip(r) for r in ok]
    if len(clips) <= targets:
        raise ValueError(f"{person}: {len(clips)} analysed clips, need more than {targets} targets")
    held_out, pool = clips[-targets:], clips[:-targets]
    pool_seconds = sum(c.n for c in pool) / pool[0].fps
    if pool_seconds < longest:
        raise ValueError(f"{person}: {pool_seconds:.1f} s of source clips, fewer than {longest} s")

    def models() -> dict[str, Any]:
        out: dict[str, Any] = {"rules": CalibratedMotionModel()}
        for label, uri in checkpoints.items():
            out[label] = LearnedMotionModel(cached_checkpoint(uri))
        return out

    results: dict[str, dict[str, dict[str, float]]] = {}
    stride = max(len(pool) // max(draws, 1), 1)
    for length in seconds:
        per_model: dict[str, list[dict[str, float]]] = {}
        for draw in range(draws):
            source, measured, landmarks, fps = _source(pool, draw * stride, length)
            for label, model in models().items():
                model.fit_speaker(source, measured, fps, landmarks=landmarks)
                figures = []
                for target in held_out:
                    predicted = model.predict(target.speech, target.n, target.fps).astype(np.float64)
                    figures.append({**correlations(predicted, target.measured), "jitter_ratio": jitter_ratio(predicted, target.measured)})
                per_model.setdefault(label, []).append({k: float(np.nanmean([f[k] for f in figures])) for k in figures[0]})
        results[f"{length:g}"] = {label: {k: float(np.mean([d[k] for d in draws_])) for k in draws_[0]}
                                  for label, draws_ in per_model.items()}
        for label, figures in results[f"{length:g}"].items():
            log.info("source %5.2f s  %-6s opening r %.3f  width r %.3f  jitter %.2fx", length, label,
                     figures["opening"], figures["width"], figures["jitter_ratio"])
    seen = trained_on(checkpoints)
    return {"person": person, "targets": [video_name(r["video_uri"]) for r in ok[-targets:]], "draws": draws,
            "source_pool_seconds": pool_seconds, "checkpoints": checkpoints,
            "checkpoints_trained_on_this_person": sorted(seen & {video_name(r["video_uri"]) for r in ok}),
            "by_source_seconds": results}
