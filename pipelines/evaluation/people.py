"""`lipdub eval people --split test|validation`: the hold-out protocol on people never trained on.

The people come from the committed split (``models/splits/people_split.json``, see
``models/people_split.py``): ``test`` is never tuned on, ``validation`` is for choices. For each
of the group's clips (at most ``per_person`` per person, at least ``min_seconds`` long), the
hold-out protocol of ``lipdub eval holdout`` (pipelines/evaluation/holdout.py): the first half's video is
dubbed with the second half's speech and the output's mouth is compared with the real second
half. Variants, all in one run: the default pipeline with the shipped checkpoint (``v1``) and any
other checkpoint given (``--checkpoint LABEL=URI``), the rules alone (no checkpoint) and the first
half left untouched.

Figures per variant, for all people and for real footage and generated faces apart: mean opening
r, mean width r, jitter ratio (mean absolute frame-to-frame change of the output's opening over the
real second half's: 1.0 is as steady as the real mouth), and PSNR outside the lower face against
the source (the QA stage's measure; untouched is the source itself: inf). Means are over people
(a person's clips are averaged first), so no person counts more for having more clips.
``never_trained_on``: the same means over the people none of the compared checkpoints trained on
(lipdub-motion-v1 was trained on all of ../shared/media/clips, some of which are test people).

``fast=True`` skips rendering: each model's predicted mouth track is compared with the real one
directly (the learned model fitted on the first half's measured mouth and lips, as the move stage
does), from the training job's cached analyses: seconds per checkpoint, for choosing settings on
the validation people; the rendered protocol gives the reported figures.
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from lipdub.config import PipelineConfig
from models.people_split import DEFAULT_MEDIA, clips_of, load_split

log = logging.getLogger(__name__)

__all__ = ["run_people_eval", "summarise", "DEFAULT_CHECKPOINTS"]

DEFAULT_CHECKPOINTS = {"v2": "builtin:lipdub-motion-v2"}
METRICS = ("opening", "width", "jitter_ratio", "outside_psnr_db")


def _clip_seconds(path: Path) -> float:
    from lipdub.media.probe import probe_video

    info = probe_video(str(path))
    return info.n_frames / float(info.fps)


def select_clips(group: str, media: Path, per_person: int, min_seconds: float,
                 split: dict[str, Any] | None = None) -> tuple[list[tuple[str, str, Path, float]], list[dict[str, str]]]:
    """The group's clips to evaluate as (person, kind, path, seconds), and the ones left out
    (missing, too short) with why."""
    chosen, left_out = [], []
    for person, kind, path in clips_of(group, media, split, per_person=per_person):
        if not path.exists():
            left_out.append({"clip": path.stem, "person": person, "why": "file missing"})
        elif (seconds := _clip_seconds(path)) < min_seconds:
            left_out.append({"clip": path.stem, "person": person, "why": f"{seconds:.1f} s < {min_seconds:.1f} s"})
        else:
            chosen.append((person, kind, path, seconds))
    return chosen, left_out


# Halves at least this long make the "long_halves" subset: a correlation over a 1.5 s half can swing
# by 0.6 between outputs 45 dB apart (38 frames), so the shortest clips carry most of the noise.
LONG_HALF_SECONDS = 4.0


def summarise(per_clip: dict[str, dict[str, Any]], people: dict[str, tuple[str, str]], variants: list[str],
              seen: set[str] | None = None, seconds: dict[str, float] | None = None) -> dict[str, Any]:
    """Means over people of each variant's figures: ``{"all"|"real"|"generated": {variant: {metric: mean}}}``,
    plus ``"never_trained_on"`` when ``seen`` (clips some compared checkpoint trained on) is given:
    the people none of the compared checkpoints saw, and ``"long_halves"`` when ``seconds`` (clip ->
    its whole length) is given: only the clips whose halves last ``LONG_HALF_SECONDS`` or more.

    ``people``: clip -> (person, kind). Failed clips and NaN figures are left out.
    """
    subsets = {"all": lambda clip: True, "real": lambda clip: people[clip][1] == "real",
               "generated": lambda clip: people[clip][1] == "generated"}
    if seen is not None:
        seen_people = {people[c][0] for c in people if c in seen}
        subsets["never_trained_on"] = lambda clip: people[clip][0] not in seen_people
    if seconds is not None:
        subsets["long_halves"] = lambda clip: seconds.get(clip, 0.0) / 2.0 >= LONG_HALF_SECONDS
    out: dict[str, Any] = {}
    for subset, chosen in subsets.items():
        out[subset] = {}
        clips = [clip for clip in people if chosen(clip)]
        for variant in variants:
            figures = {}
            for metric in METRICS:
                per_person: dict[str, list[float]] = {}
                for clip in clips:
                    value = per_clip.get(clip, {}).get(variant, {}).get(metric)
                    if value is not None and not np.isnan(value):
                        per_person.setdefault(people[clip][0], []).append(float(value))
                values = [float(np.mean(v)) for v in per_person.values()]
                figures[metric] = float(np.mean(values)) if values else float("nan")
            figures["people"] = len({people[c][0] for c in clips})
            out[subset][variant] = figures
    return out


def trained_on(checkpoints: dict[str, str]) -> set[str]:
    """Names of the videos any of the checkpoints was trained on (from each checkpoint's own record)."""
    seen: set[str] = set()
    for uri in checkpoints.values():
        try:
            seen.update(_state_of(uri.partition("@")[0]).get("meta", {}).get("videos", []))
        except Exception as error:  # noqa: BLE001  (an unreadable record: nothing known, said in the log)
            log.warning("cannot read the training videos of %s: %s", uri, error)
    return seen


def run_people_eval(
    group: str,
    *,
    media: Path = DEFAULT_MEDIA,
    checkpoints: dict[str, str] | None = None,
    per_person: int = 2,
    min_seconds: float = 2.0,
    fast: bool = False,
    work_root: str | None = None,
    out_dir: str | None = None,
    split: dict[str, Any] | None = None,
    base_config: PipelineConfig | None = None,
) -> dict[str, Any]:
    """Run the protocol over a split group; returns per-clip figures and the summary.
    ``base_config``: the settings the rendered dubs use (the motion model is the protocol's)."""
    split = split or load_split()
    checkpoints = dict(DEFAULT_CHECKPOINTS if checkpoints is None else checkpoints)
    chosen, left_out = select_clips(group, Path(media), per_person, min_seconds, split)
    if not chosen:
        raise ValueError(f"no clip of the {group} people under {media}")
    people = {path.stem: (person, kind) for person, kind, path, _ in chosen}
    seconds = {path.stem: length for _, _, path, length in chosen}
    runner = _fast_figures if fast else _rendered_figures
    per_clip, variants = runner([path for _, _, path, _ in chosen], checkpoints, work_root, out_dir, base_config)
    summary = summarise(per_clip, people, variants, seen=trained_on(checkpoints), seconds=seconds)
    _log_summary(group, summary, fast)
    return {"split": group, "mode": "fast (motion only)" if fast else "rendered", "clips": per_clip,
            "people": {clip: {"person": p, "kind": k, "seconds": round(seconds[clip], 2)} for clip, (p, k) in people.items()},
            "left_out": left_out,
            "checkpoints": checkpoints, "trained_on_here": sorted(trained_on(checkpoints) & set(people)), "summary": summary}


def _rendered_figures(clips: list[Path], checkpoints: dict[str, str], work_root: str | None,
                      out_dir: str | None, base_config: PipelineConfig | None = None) -> tuple[dict[str, dict[str, Any]], list[str]]:
    from pipelines.evaluation.holdout import _dub_variant, correlations, halve_clip, jitter_ratio, protocol_config
    from pipelines.ray_adapter import ensure_ray

    base = protocol_config(base_config, work_root)
    ensure_ray()
    folder = Path(out_dir or tempfile.mkdtemp(prefix="lipdub-people-"))
    folder.mkdir(parents=True, exist_ok=True)
    halves = [halve_clip(str(path), folder) for path in clips]
    per_clip: dict[str, dict[str, Any]] = {
        h.name: {"untouched": {**correlations(h.first_real, h.second_real), "jitter_ratio": jitter_ratio(h.first_real, h.second_real),
                               "outside_psnr_db": float("inf")}} for h in halves}
    runs: list[tuple[str, str, dict[str, str] | None]] = [("rules", "rules", None)]
    runs += [(label, "learned", {h.name: uri for h in halves}) for label, uri in checkpoints.items()]
    for label, variant, per_clip_checkpoint in runs:
        for name, figures in _dub_variant(halves, folder, base, variant, per_clip_checkpoint, label=label).items():
            per_clip[name][label] = figures
    return per_clip, ["untouched", "rules", *checkpoints]


def _fast_figures(clips: list[Path], checkpoints: dict[str, str], work_root: str | None,
                  out_dir: str | None, base_config: PipelineConfig | None = None) -> tuple[dict[str, dict[str, Any]], list[str]]:
    from pipelines.evaluation.holdout import correlations, jitter_ratio
    from lipdub.face.analysis_record import FaceAnalysis
    from lipdub.work_store import fetch_member
    from models.learned_motion import LearnedMotionModel
    from models.registry import default_motion_model
    from operators.move import read_speech
    from pipelines.ray_adapter import ensure_ray
    from pipelines.evaluation.speech_parts import slice_speech
    from pipelines.training_pipeline import analyse_videos, video_name, video_rows

    config = PipelineConfig().with_overrides(work_root=work_root)
    rows, _ = video_rows([{"item_id": video_name(str(p)), "video_uri": str(p)} for p in clips])
    ensure_ray()
    analysed = {video_name(r["video_uri"]): r for r in analyse_videos(rows, config)}
    per_clip: dict[str, dict[str, Any]] = {}
    for path in clips:
        row = analysed.get(path.stem)
        if row is None or row.get("status") == "failed":
            per_clip[path.stem] = {"error": (row or {}).get("error", "not analysed")}
            continue
        faces = FaceAnalysis.from_npz(str(fetch_member(row["analysis_uri"])))
        speech = read_speech(row["dub_speech_uri"])
        fps, n = faces.fps, faces.n_frames
        measured = faces.mouth_measurements(missing=np.nan).astype(np.float64)
        half = n // 2
        cut = half / fps
        source, dub = slice_speech(speech, 0.0, cut), slice_speech(speech, cut, min(n / fps, speech.duration_s))
        first, second = measured[:half], measured[half:]
        figures: dict[str, Any] = {"untouched": {**correlations(first, second), "jitter_ratio": jitter_ratio(first, second)}}
        models: dict[str, Any] = {"rules": default_motion_model()}
        for label, uri in checkpoints.items():
            uri, _, share = uri.partition("@")  # fast mode only: URI@0.7 sets the blend's learned share
            models[label] = LearnedMotionModel(_state_of(uri), learned_share=float(share) if share else None)
        for label, model in models.items():
            try:
                model.fit_speaker(source, first, fps, landmarks=faces.landmarks[:half])
                predicted = model.predict(dub, n - half, fps).astype(np.float64)
            except Exception as error:  # noqa: BLE001  (one clip's failure is reported, not fatal)
                figures[label] = {"error": str(error)}
                continue
            figures[label] = {**correlations(predicted, second), "jitter_ratio": jitter_ratio(predicted, second)}
        per_clip[path.stem] = figures
    return per_clip, ["untouched", "rules", *checkpoints]


def _state_of(uri: str) -> dict[str, Any]:
    from models.motion_checkpoint import cached_checkpoint

    return cached_checkpoint(uri)


def _log_summary(group: str, summary: dict[str, Any], fast: bool) -> None:
    log.info("%s people (%s): mean over people", group, "fast, motion only" if fast else "rendered")
    for subset, variants in summary.items():
        for variant, figures in variants.items():
            log.info("  %-9s %-10s opening r %.3f  width r %.3f  jitter %.2fx  PSNR outside %.1f dB  (%d people)", subset, variant,
                     figures["opening"], figures["width"], figures["jitter_ratio"], figures["outside_psnr_db"], figures["people"])
