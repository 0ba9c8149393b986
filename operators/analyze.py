"""analyze: faces, landmarks, shot cuts, the speaker and the mouth atlas of a source video.

Input columns: video_uri, source_fingerprint, speaker_point, fps_num, fps_den.
Output columns: analysis_uri, atlas_uri, analysis_cached, n_faces, speaker_found_share.
Fan-out: 1 -> 1. Cached per (video bytes, speaker hint, analysis settings): a video dubbed into
N languages is analysed once. Raises (-> failed row) when no face is found anywhere.
analysis_uri (faces.npz) and atlas_uri (a folder) lie in one published work-store directory:
read them through `lipdub.work_store.fetch_member`, which gives local copies on any work root.
"""
from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from lipdub.audio.frame_loudness import loudness_per_frame_or_none
from lipdub.errors import InputError
from lipdub.face.analysis import FaceAnalysis, analyze_faces
from lipdub.fingerprint import combine
from lipdub.media.probe import probe_video
from lipdub.media.video_reader import iter_frames
from lipdub.render.atlas import build_mouth_atlas
from lipdub.render.region_spool import RegionSpool
from lipdub.storage import join_uri, local_path
from lipdub.store_gc import touch_last_used
from lipdub.work_store import analysis_uri, fetch_directory, is_complete, publish_directory
from operators.base import Operator

log = logging.getLogger(__name__)

FACES_FILE = "faces.npz"
ATLAS_DIR = "atlas"
SPOOL_DIR = "region_spool"


def parse_speaker_point(text: str | None) -> tuple[float, float] | None:
    if not text:
        return None
    try:
        x, y = (float(part) for part in text.split(","))
    except ValueError as error:
        raise InputError(f"speaker point must be X,Y in pixels, got {text!r}") from error
    return x, y


class AnalyzeOperator(Operator):
    name = "analyze"

    def _directory(self, row: dict[str, Any]) -> str:
        key = combine(row["source_fingerprint"], row.get("speaker_point"), self.config.analysis_fingerprint_salt())
        if not self.config.analysis_cache:
            key = combine(key, row["item_id"], uuid.uuid4().hex)  # a fresh analysis for every item
        return analysis_uri(self.config.work_root, key)

    def expects_long_work(self, row: dict[str, Any]) -> bool:
        return not self.config.analysis_cache or not is_complete(self._directory(row))

    def process(self, row: dict[str, Any]) -> dict[str, Any]:
        speaker_point = parse_speaker_point(row.get("speaker_point"))
        directory = self._directory(row)
        cached = is_complete(directory)
        if not cached:
            with local_path(row["video_uri"]) as video_path, publish_directory(directory) as staging:
                self._analyze(video_path, speaker_point, staging)
        else:
            touch_last_used(directory)  # `lipdub gc` keeps analyses reused within its window
        faces = FaceAnalysis.from_npz(str(fetch_directory(directory) / FACES_FILE))
        row.update(
            analysis_uri=join_uri(directory, FACES_FILE),
            atlas_uri=join_uri(directory, ATLAS_DIR),
            analysis_cached=cached,
            n_faces=int(faces.n_tracks),
            speaker_found_share=float(np.mean(faces.valid)) if len(faces.valid) else 0.0,
        )
        return row

    def _analyze(self, video_path: str, speaker_point: tuple[float, float] | None, staging: Path) -> None:
        info = probe_video(video_path)
        loud = loudness_per_frame_or_none(video_path, info.n_frames, float(info.fps))
        settings = self.config.analyze
        # One decode: the analysis pass also keeps the full-resolution pixels around the faces, which
        # the atlas cuts its crops from (inside staging, so a crash publishes none of it).
        with RegionSpool(str(staging / SPOOL_DIR), max_regions=settings.atlas_max_entries,
                         max_bytes=settings.spool_max_mb * 1_000_000) as spool:
            faces = analyze_faces(
                video_path, source_loudness=loud, speaker_point=speaker_point, max_side=settings.detect_max_side,
                observer=spool.add,
            )
            faces.to_npz(str(staging / FACES_FILE))
            build_mouth_atlas(
                iter_frames(video_path),  # read only for frames the spool could not serve
                faces.landmarks,
                faces.valid,
                work_dir=str(staging / ATLAS_DIR),
                cut_before=faces.cut_before,
                max_entries=settings.atlas_max_entries,
                regions=spool,
            )
        shutil.rmtree(staging / SPOOL_DIR, ignore_errors=True)
        log.info("analysed %s: %d frames, speaker in %.0f%%", video_path, len(faces.valid), 100 * np.mean(faces.valid))
