"""Measure one finished output against its source and dub in a single pass over both videos.

The output is decoded once; the source is decoded forward alongside it. Output frame i shows
source frame ``source_index[i]`` (the sync mode's timeline): pixel comparisons (PSNR, seam, flicker,
thumbnails) use the output frames whose source frame comes at or after the ones already compared,
which is every frame for cut_off/silence/remap and the first pass for loop/bounce. The output's
mouth is measured in every frame, with the Face Mesh model run on the region where the source's
analysis says the face is (no detector: the picture outside the mouth is the source's).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import cv2
import numpy as np

from lipdub.audio.frame_loudness import loudness_per_frame
from lipdub.errors import InputError
from lipdub.evaluation.metrics import mouth_jitter, syllable_sync
from lipdub.face import geometry
from lipdub.face.analysis import prefetched
from lipdub.face.analysis_record import FaceAnalysis
from lipdub.face.mesh import FaceMesher, FaceRoi
from lipdub.media.probe import probe_audio, probe_video
from lipdub.media.video_reader import iter_frames
from lipdub.qa.details import QADetails, encode_jpeg
from lipdub.qa.meters import EDITED_LEVELS, FlickerMeter, OutsidePSNR, SeamMeter, grey, lower_face_difference
from lipdub.qa.regions import face_regions, mouth_box

logger = logging.getLogger(__name__)

THUMBNAILS = 3
MOUTH_SHEET_FRAMES = 8
THUMB_WIDTH = 360
MOUTH_CELL = 96
# Audio-visual offsets are searched within this many seconds either way (10 frames at 25 fps).
SYNC_SEARCH_S = 0.4


@dataclass(frozen=True)
class QASubject:
    """One output and what it was made from.

    ``source_index``: the source frame each output frame shows (None: frame i shows frame i);
    ``edited``: frames the renderer changed, from its plan (None: judged from the pixels);
    ``planned_frames`` / ``planned_fps``: what the pipeline meant to write (None: not checked).
    """

    output_path: str
    source_path: str
    dub_path: str
    faces: FaceAnalysis
    source_index: np.ndarray | None = None
    edited: np.ndarray | None = None
    planned_frames: int | None = None
    planned_fps: Fraction | None = None


def _spread(candidates: np.ndarray, count: int) -> list[int]:
    if len(candidates) == 0:
        return []
    picks = np.linspace(0, len(candidates) - 1, num=min(count, len(candidates)) + 2)[1:-1].round().astype(int)
    return sorted(set(candidates[picks].tolist()))


def _continuity(source_index: np.ndarray, cut_before: np.ndarray) -> np.ndarray:
    """True where output frame i follows frame i-1 smoothly (same or neighbouring source frame, no cut)."""
    steps = np.diff(source_index)
    later = np.maximum(source_index[1:], source_index[:-1])
    smooth = (np.abs(steps) <= 1) & ~((steps != 0) & cut_before[later])
    return np.concatenate([[False], smooth])


def _resized(image: np.ndarray, width: int) -> np.ndarray:
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def _mouth_cell(frame: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
    if box is None:
        return np.zeros((MOUTH_CELL, MOUTH_CELL, 3), np.uint8)
    x0, y0, x1, y1 = box
    return cv2.resize(frame[y0:y1, x0:x1], (MOUTH_CELL, MOUTH_CELL), interpolation=cv2.INTER_AREA)


def _sync(opening: np.ndarray, loudness: np.ndarray | None, fps: float, search_s: float) -> tuple[float, float, float]:
    if loudness is None:
        return float("nan"), float("nan"), float("nan")
    lag, corr, zero = syllable_sync(opening, loudness, fps, max_lag=max(1, int(round(search_s * fps))))
    if not np.isfinite(corr):
        return float("nan"), float("nan"), float("nan")
    return float(lag), corr, zero


def _ratio(value: float, reference: float) -> float:
    return value / reference if np.isfinite(value) and np.isfinite(reference) and reference > 0 else float("nan")


def measure(subject: QASubject, *, mesher: FaceMesher | None = None) -> tuple[dict[str, Any], QADetails]:
    """Every QA figure of one output (a flat dict of numbers and booleans) and its details."""
    started = time.perf_counter()
    info = probe_video(subject.output_path)
    fps = float(info.fps)
    faces = subject.faces
    n_out = info.n_frames
    if subject.source_index is None:
        source_index = np.minimum(np.arange(n_out), faces.n_frames - 1)
    else:
        source_index = np.asarray(subject.source_index, np.int64)
    n = min(n_out, len(source_index))
    source_index = source_index[:n]
    valid = faces.valid[source_index]
    continuous = _continuity(source_index, faces.cut_before)
    seen_before = np.maximum.accumulate(np.concatenate([[-1], source_index[:-1]]))
    comparable = source_index >= seen_before
    planned_edit = None if subject.edited is None else np.asarray(subject.edited, bool)[:n]
    preferred = comparable & valid & (planned_edit if planned_edit is not None and planned_edit.any() else True)
    thumb_frames = _spread(np.flatnonzero(preferred), THUMBNAILS)
    sheet_frames = _spread(np.flatnonzero(preferred), MOUTH_SHEET_FRAMES)
    thumb_set, sheet_set = set(thumb_frames), set(sheet_frames)

    dub_loudness = loudness_per_frame(subject.dub_path, n, fps)
    source_measure = faces.mouth_measurements(missing=np.nan)[:, 0].astype(np.float64)
    source_opening = source_measure[source_index]
    opening = np.full(n, np.nan)
    # The source's mouth measured the same way as the output's (same crop, unsmoothed), so the
    # jitter ratio compares like with like: 1.0 for an untouched source.
    source_measured = np.full(n, np.nan)
    pixel_edit = np.zeros(n, bool)
    psnr, seam, flicker = OutsidePSNR(), SeamMeter(), FlickerMeter()
    thumbs_before: list[bytes] = []
    thumbs_after: list[bytes] = []
    sheet_source: list[np.ndarray] = []
    sheet_output: list[np.ndarray] = []
    compared = 0
    own_mesher = mesher is None
    mesher = mesher or FaceMesher()
    source_frames = iter(prefetched(iter_frames(subject.source_path)))
    source_at, source_frame = -1, None
    try:
        for i, frame in enumerate(prefetched(iter_frames(subject.output_path))):
            if i >= n:
                break
            s = int(source_index[i])
            landmarks = faces.landmarks[s] if valid[i] else None
            if landmarks is not None:
                found = mesher.landmarks_in_roi(frame, FaceRoi.from_landmarks(landmarks))
                if found is not None:
                    opening[i] = float(geometry.mouth_opening(found))
            if not comparable[i]:
                flicker.add(None, None, False)
                continue
            while source_at < s:
                source_frame = next(source_frames, None)
                source_at += 1
                if source_frame is None:
                    raise InputError(f"{subject.source_path} has fewer frames than its analysis ({s + 1} needed)")
            assert source_frame is not None
            if source_frame.shape != frame.shape:
                raise InputError(f"output frames are {frame.shape[1]}x{frame.shape[0]}, the source's "
                                 f"{source_frame.shape[1]}x{source_frame.shape[0]}")
            compared += 1
            if landmarks is not None:
                found = mesher.landmarks_in_roi(source_frame, FaceRoi.from_landmarks(landmarks))
                if found is not None:
                    source_measured[i] = float(geometry.mouth_opening(found))
            regions = face_regions(landmarks, frame.shape[:2]) if landmarks is not None else None
            psnr.add(frame, source_frame, regions)
            if regions is not None:
                x0, y0, x1, y1 = regions.box
                out_box, src_box = grey(frame[y0:y1, x0:x1]), grey(source_frame[y0:y1, x0:x1])
                seam.add(out_box, src_box, regions)
                pixel_edit[i] = lower_face_difference(out_box, src_box, regions) > EDITED_LEVELS
            box = mouth_box(landmarks, frame.shape[:2]) if landmarks is not None else None
            if box is None:
                flicker.add(None, None, False)
            else:
                flicker.add(FlickerMeter.crop(frame, box), FlickerMeter.crop(source_frame, box), bool(continuous[i]))
            if i in thumb_set:
                thumbs_before.append(encode_jpeg(_resized(source_frame, THUMB_WIDTH)))
                thumbs_after.append(encode_jpeg(_resized(frame, THUMB_WIDTH)))
            if i in sheet_set:
                sheet_source.append(_mouth_cell(source_frame, box))
                sheet_output.append(_mouth_cell(frame, box))
    finally:
        close = getattr(source_frames, "close", None)
        if close is not None:
            close()
        if own_mesher:
            mesher.close()

    try:
        source_loudness = loudness_per_frame(subject.source_path, faces.n_frames, faces.fps)
    except InputError:
        source_loudness = None  # a silent source: nothing to check its sync against
    lag, corr, corr0 = _sync(opening, dub_loudness, fps, SYNC_SEARCH_S)
    source_lag, source_corr, source_corr0 = _sync(source_measure, source_loudness, faces.fps, SYNC_SEARCH_S)
    edited_from = "plan" if planned_edit is not None else "pixels"
    edited = planned_edit if planned_edit is not None else pixel_edit
    audio_seconds = probe_audio(subject.output_path).duration_s if info.has_audio else 0.0
    figures: dict[str, Any] = {
        "frames": int(n_out),
        "planned_frames": int(subject.planned_frames if subject.planned_frames is not None else n_out),
        "fps": fps,
        "planned_fps": float(subject.planned_fps) if subject.planned_fps is not None else fps,
        "fps_matches": subject.planned_fps is None or info.fps == subject.planned_fps,
        "video_seconds": n_out / fps if fps > 0 else float("nan"),
        "has_audio": bool(info.has_audio),
        "audio_seconds": float(audio_seconds),
        # sync_corr: at zero offset, what a viewer sees; the offset and its correlation say
        # whether shifting the picture would match better.
        "sync_corr": corr0,
        "av_offset_frames": lag,
        "av_offset_ms": 1000.0 * lag / fps if fps > 0 else float("nan"),
        "sync_corr_at_offset": corr,
        "speaker_found_share": float(valid.mean()) if n else 0.0,
        "mouth_measured_share": float(np.isfinite(opening).mean()) if n else 0.0,
        "edited_share": float(edited.mean()) if n else 0.0,
        "edited_from": edited_from,
        "compared_frames": compared,
        "outside_psnr_db": psnr.psnr_db(),
        "seam_score": seam.score(),
        "flicker_ratio": flicker.ratio(),
        "jitter_ratio": _ratio(mouth_jitter(np.where(comparable, opening, np.nan)), mouth_jitter(source_measured)),
        "source_sync_corr": source_corr0,
        "source_av_offset_frames": source_lag,
        "source_av_offset_ms": 1000.0 * source_lag / faces.fps if faces.fps > 0 else float("nan"),
        "source_sync_corr_at_offset": source_corr,
        "qa_seconds": time.perf_counter() - started,
    }
    sheet = None
    if sheet_output:
        sheet = encode_jpeg(np.concatenate([np.concatenate(sheet_source, axis=1), np.concatenate(sheet_output, axis=1)], axis=0))
    details = QADetails(fps=fps, opening=opening, source_opening=source_opening, dub_loudness=dub_loudness,
                        edited=edited, thumb_frames=thumb_frames[: len(thumbs_after)],
                        thumbs_before=thumbs_before, thumbs_after=thumbs_after, mouth_sheet=sheet,
                        mouth_sheet_frames=sheet_frames[: len(sheet_output)])
    logger.info("qa %s: %d frames in %.1f s", subject.output_path, n, figures["qa_seconds"])
    return figures, details
