"""Training pairs on Ray Data: catalog videos -> probe -> analyze -> listen -> model windows.

The same operators (and the same work-store cache) as the dub pipeline: a video already dubbed
has its face analysis cached, and a video analysed here is cached for its dubs. Each video is
its own "dub" (audio_uri = video_uri): its own speech in, its measured lips out.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Iterable

import ray
from ray.data import Dataset

from lipdub.config import PipelineConfig
from lipdub.face.analysis_record import FaceAnalysis
from lipdub.item_row import empty_row, rows_to_table
from lipdub.work_store import fetch_member
from models.training_pairs import clip_windows, training_clip
from operators.analyze import AnalyzeOperator
from operators.listen import ListenOperator
from operators.move import read_speech
from operators.probe import ProbeOperator
from pipelines.ray_adapter import apply_operator

log = logging.getLogger(__name__)

__all__ = ["video_rows", "analyse_videos", "windows_dataset", "video_name"]

NO_OUTPUT = "(training: no output video)"


class TrainingProbe(ProbeOperator):
    """The probe's checks of the inputs; training rows make no output video to check."""

    checks_output = False
_WINDOW_COLUMNS = ("clip", "features", "motion", "valid", "reference")


def video_name(uri: str) -> str:
    """A readable name for the training card: the file name without its extension."""
    return os.path.splitext(uri.rstrip("/").rsplit("/", 1)[-1])[0]


def video_rows(catalog_rows: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One pipeline row per distinct source video; catalog rows that failed already, apart."""
    rows: dict[str, dict[str, Any]] = {}
    rejected = []
    for row in catalog_rows:
        if row.get("status") == "failed":
            rejected.append(row)
            continue
        uri = row["video_uri"]
        if uri not in rows:
            rows[uri] = empty_row(item_id=row["item_id"], video_uri=uri, audio_uri=uri, output_uri=NO_OUTPUT,
                                  speaker_point=row.get("speaker_point"))
    return list(rows.values()), rejected


def analyse_videos(rows: list[dict[str, Any]], config: PipelineConfig) -> list[dict[str, Any]]:
    """Run probe/analyze/listen over the videos; result rows (ok ones carry the npz URIs)."""
    if not rows:
        return []
    ds = ray.data.from_arrow(rows_to_table(rows)).repartition(target_num_rows_per_block=1)
    for operator_cls in (TrainingProbe, AnalyzeOperator, ListenOperator):
        ds = apply_operator(ds, operator_cls, config)
    return ds.take_all()


class _Windows:
    """Ray Data flat_map: one analysed video row -> its training windows, lips read at the row's
    own audio-video offset (``offset_s``), each window tagged with its person and start step."""

    def __init__(self, feature_kind: str, stride: int, phones: bool = True) -> None:
        self.feature_kind, self.stride, self.phones = feature_kind, stride, phones

    def __call__(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        faces = FaceAnalysis.from_npz(str(fetch_member(row["analysis_uri"])))
        speech = read_speech(row["dub_speech_uri"])
        try:
            clip = training_clip(video_name(row["video_uri"]), faces, speech, self.feature_kind, offset_s=float(row["offset_s"]),
                                 phones=self.phones)
        except ValueError as error:  # no step with the speaker: nothing to learn from this video
            log.warning("no training windows from %s: %s", row["video_uri"], error)
            return []
        return [{**{name: window[name] for name in _WINDOW_COLUMNS}, "person": row["person"], "index": index}
                for index, window in enumerate(clip_windows(clip, stride=self.stride))]


def windows_dataset(rows: list[dict[str, Any]], feature_kind: str, stride: int, offsets: dict[str, float] | None = None,
                    people: dict[str, str] | None = None, phones: bool = True) -> Dataset:
    """Training windows of the given analysed videos, materialised (they are small). ``offsets``:
    each video's own audio-video offset in seconds (by video URI); ``people``: video name ->
    person (a video not named is its own person)."""
    offsets, people = offsets or {}, people or {}
    items = [{"video_uri": r["video_uri"], "analysis_uri": r["analysis_uri"], "dub_speech_uri": r["dub_speech_uri"],
              "offset_s": float(offsets.get(r["video_uri"], 0.0)),
              "person": people.get(video_name(r["video_uri"]), video_name(r["video_uri"]))} for r in rows]
    return ray.data.from_items(items).flat_map(_Windows(feature_kind, stride, phones)).materialize()
