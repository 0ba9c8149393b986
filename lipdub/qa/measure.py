"""QA figures of one output from its measured frames (lipdub/qa/frame_qa.py), and `measure`, which
measures a written file against its source and dub in a single pass over both videos.

The pipeline measures while rendering (each segment the frames it composites, see
operators/render.py) and the qa stage only merges; `measure` is for files made anywhere
(`lipdub qa`): the output is decoded once; the source is decoded forward alongside it. Output frame i shows
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

import numpy as np

from lipdub.audio.frame_loudness import loudness_per_frame, loudness_per_frame_or_none
from lipdub.errors import InputError
from lipdub.evaluation.metrics import mouth_jitter, syllable_sync
from lipdub.face.analysis import prefetched
from lipdub.face.analysis_record import FaceAnalysis
from lipdub.face.mesh import FaceMesher
from lipdub.media.probe import probe_audio, probe_video
from lipdub.media.video_reader import iter_frames
from lipdub.qa.details import QADetails, encode_jpeg
from lipdub.qa.frame_qa import FrameQA, QAPart, picture_frames
from lipdub.qa.meters import change_ratio, psnr_db, seam_score

logger = logging.getLogger(__name__)

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


def _sync(opening: np.ndarray, loudness: np.ndarray | None, fps: float, search_s: float) -> tuple[float, float, float]:
    if loudness is None:
        return float("nan"), float("nan"), float("nan")
    lag, corr, zero = syllable_sync(opening, loudness, fps, max_lag=max(1, int(round(search_s * fps))))
    if not np.isfinite(corr):
        return float("nan"), float("nan"), float("nan")
    return float(lag), corr, zero


@dataclass(frozen=True)
class OutputFile:
    """What the written file says about itself (probed, not decoded)."""

    frames: int
    fps: Fraction
    has_audio: bool
    audio_seconds: float

    @classmethod
    def probe(cls, path: str) -> "OutputFile":
        info = probe_video(path)
        audio_seconds = probe_audio(path).duration_s if info.has_audio else 0.0
        return cls(frames=int(info.n_frames), fps=info.fps, has_audio=bool(info.has_audio), audio_seconds=float(audio_seconds))


def figures_from_part(part: QAPart, *, output: OutputFile, faces: FaceAnalysis, source_index: np.ndarray,
                      dub_loudness: np.ndarray, source_loudness: np.ndarray | None, edited: np.ndarray | None,
                      planned_frames: int | None, planned_fps: Fraction | None) -> dict[str, Any]:
    """Every QA figure (a flat dict of numbers and booleans) from the measured frames."""
    fps = float(output.fps)
    n = part.stop - part.start
    valid = faces.valid[source_index[:n]]
    opening = part.opening
    lag, corr, corr0 = _sync(opening, dub_loudness[:n], fps, SYNC_SEARCH_S)
    source_measure = faces.mouth_measurements(missing=np.nan)[:, 0].astype(np.float64)
    source_lag, source_corr, source_corr0 = _sync(source_measure, source_loudness, faces.fps, SYNC_SEARCH_S)
    sums = part.sums
    edited_from = "plan" if edited is not None else "pixels"
    edited = (np.asarray(edited, bool)[:n] if edited is not None else part.pixel_edit)
    return {
        "frames": output.frames,
        "planned_frames": int(planned_frames if planned_frames is not None else output.frames),
        "fps": fps,
        "planned_fps": float(planned_fps) if planned_fps is not None else fps,
        "fps_matches": planned_fps is None or output.fps == planned_fps,
        "video_seconds": output.frames / fps if fps > 0 else float("nan"),
        "has_audio": output.has_audio,
        "audio_seconds": output.audio_seconds,
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
        "compared_frames": int(sums["compared"]),
        "outside_psnr_db": psnr_db(sums["squared_error"], sums["psnr_count"]),
        "seam_score": seam_score(sums["seam_output"], sums["seam_source"]),
        "flicker_ratio": change_ratio(sums["flicker_output"], sums["flicker_source"]),
        # Both measured the same way (same crop, unsmoothed) on the frames compared: 1.0 for an
        # untouched source.
        "jitter_ratio": change_ratio(mouth_jitter(np.where(part.compared, opening, np.nan)), mouth_jitter(part.source_opening_measured)),
        "source_sync_corr": source_corr0,
        "source_av_offset_frames": source_lag,
        "source_av_offset_ms": 1000.0 * source_lag / faces.fps if faces.fps > 0 else float("nan"),
        "source_sync_corr_at_offset": source_corr,
    }


def details_from_part(part: QAPart, *, fps: float, faces: FaceAnalysis, source_index: np.ndarray,
                      dub_loudness: np.ndarray, edited: np.ndarray) -> QADetails:
    n = part.stop - part.start
    source_opening = faces.mouth_measurements(missing=np.nan)[:, 0].astype(np.float64)[source_index[:n]]
    thumb_frames = sorted(part.thumbs)
    sheet_frames = sorted(part.mouth_cells)
    sheet = None
    if sheet_frames:
        rows = [np.concatenate([part.mouth_cells[i][side] for i in sheet_frames], axis=1) for side in (0, 1)]
        sheet = encode_jpeg(np.concatenate(rows, axis=0))
    return QADetails(fps=fps, opening=part.opening, source_opening=source_opening, dub_loudness=dub_loudness[:n],
                     edited=np.asarray(edited, bool)[:n], thumb_frames=thumb_frames,
                     thumbs_before=[part.thumbs[i][0] for i in thumb_frames], thumbs_after=[part.thumbs[i][1] for i in thumb_frames],
                     mouth_sheet=sheet, mouth_sheet_frames=sheet_frames)


def measure(subject: QASubject, *, mesher: FaceMesher | None = None) -> tuple[dict[str, Any], QADetails]:
    """Every QA figure of one output file and its details, decoding the output and the source."""
    started = time.perf_counter()
    output = OutputFile.probe(subject.output_path)
    faces = subject.faces
    if subject.source_index is None:
        source_index = np.minimum(np.arange(output.frames), faces.n_frames - 1)
    else:
        source_index = np.asarray(subject.source_index, np.int64)
    n = min(output.frames, len(source_index))
    source_index = source_index[:n]
    # Pixels are compared where the source frame comes at or after the ones already compared (one
    # forward decode of the source): every frame for cut_off/silence/remap, the first pass of a
    # loop or bounce.
    seen_before = np.maximum.accumulate(np.concatenate([[-1], source_index[:-1]]))
    comparable = source_index >= seen_before
    edited = None if subject.edited is None else np.asarray(subject.edited, bool)[:n]
    thumb_frames, sheet_frames = picture_frames(source_index, faces.valid, edited)
    own_mesher = mesher is None
    mesher = mesher or FaceMesher()
    meter = FrameQA(faces, source_index, 0, n, thumb_frames=thumb_frames, sheet_frames=sheet_frames, mesher=mesher)
    source_frames = iter(prefetched(iter_frames(subject.source_path)))
    source_at, source_frame = -1, None
    try:
        for i, frame in enumerate(prefetched(iter_frames(subject.output_path))):
            if i >= n:
                break
            s = int(source_index[i])
            if not comparable[i]:
                meter.add(i, frame, None)
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
            meter.add(i, frame, source_frame)
    finally:
        close = getattr(source_frames, "close", None)
        if close is not None:
            close()
        if own_mesher:
            mesher.close()
    part = meter.finish()
    dub_loudness = loudness_per_frame(subject.dub_path, n, float(output.fps))
    figures = figures_from_part(part, output=output, faces=faces, source_index=source_index, dub_loudness=dub_loudness,
                                source_loudness=loudness_per_frame_or_none(subject.source_path, faces.n_frames, faces.fps), edited=edited,
                                planned_frames=subject.planned_frames, planned_fps=subject.planned_fps)
    figures["qa_seconds"] = time.perf_counter() - started
    details = details_from_part(part, fps=float(output.fps), faces=faces, source_index=source_index,
                                dub_loudness=dub_loudness, edited=edited if edited is not None else part.pixel_edit)
    logger.info("qa %s: %d frames in %.1f s", subject.output_path, n, figures["qa_seconds"])
    return figures, details
