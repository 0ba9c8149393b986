"""A small real run to report on: a results manifest and QA details made from real face frames.

Items: a clean ok one, one that needs review (with a long series, to exercise downsampling), a
failed one whose id and error hold markup, a pending one, an ok one whose details file is gone,
and a skipped one. The thumbnails and mouth sheets are JPEGs of the project's talking astronaut.
"""
from __future__ import annotations

import json
from functools import cache
from typing import Any

import cv2
import numpy as np

from lipdub.demo.face import syllable_openings, talking_face_frames
from lipdub.item_row import empty_row
from lipdub.qa.details import QADetails, encode_jpeg
from lipdub.results import RESULTS_FILE, SUMMARY_FILE, write_rows
from lipdub.storage import atomic_output, join_uri, open_uri

FPS = 25.0
MALICIOUS_ID = "<script>alert(1)</script>"
MALICIOUS_ERROR = 'analyze: no face found in "clip" <img src=x onerror=alert(2)>\nTraceback line 2: <b>bold</b> & more'
OK_ID = "clip-ok"
REVIEW_ID = "clip-review"
PENDING_ID = "clip-pending"
GONE_ID = "clip-details-gone"
SKIPPED_ID = "clip-skipped"
REVIEW_REASONS = ["sync r 0.12 below 0.30", "seam visible at the jaw"]


@cache
def _face_jpegs(seed: int, count: int) -> tuple[tuple[bytes, ...], tuple[bytes, ...], bytes]:
    """(source thumbnails, output thumbnails, mouth sheet) from rendered talking-face frames: the
    source with its mouth nearly closed, the output with it open at different heights."""
    source = list(talking_face_frames(np.full(count, 0.05), FPS, seed=seed))
    output = list(talking_face_frames(np.linspace(0.3, 1.0, count), FPS, seed=seed))
    small = (160, 160)
    before = tuple(encode_jpeg(cv2.resize(frame, small, interpolation=cv2.INTER_AREA), 80) for frame in source)
    after = tuple(encode_jpeg(cv2.resize(frame, small, interpolation=cv2.INTER_AREA), 80) for frame in output)

    def mouth(frame: np.ndarray) -> np.ndarray:  # the astronaut's mouth sits below the frame centre
        height, width = frame.shape[:2]
        return cv2.resize(frame[int(0.5 * height):int(0.85 * height), int(0.3 * width):int(0.7 * width)], (64, 56))

    sheet = np.vstack([np.hstack([mouth(f) for f in source]), np.hstack([mouth(f) for f in output])])
    return before, after, encode_jpeg(sheet, 80)


def make_details(n_frames: int, *, seed: int = 0, n_thumbs: int = 3, gap: tuple[int, int] | None = (40, 55)) -> QADetails:
    """Series of ``n_frames`` output frames (the output's opening NaN over ``gap``) and pictures."""
    opening = syllable_openings(n_frames, FPS, seed=seed) * 0.6
    source_opening = syllable_openings(n_frames, FPS, seed=seed + 7) * 0.5
    rng = np.random.default_rng(seed)
    loudness = -55.0 + 40.0 * syllable_openings(n_frames, FPS, seed=seed) + rng.normal(0, 1.5, n_frames)
    output_opening = opening.astype(np.float32).copy()
    if gap is not None:
        output_opening[gap[0]:gap[1]] = np.nan
    before, after, sheet = _face_jpegs(seed, n_thumbs)
    thumb_frames = np.linspace(0, n_frames - 1, n_thumbs + 2)[1:-1].round().astype(np.int64)
    return QADetails(fps=FPS, opening=output_opening, source_opening=source_opening, dub_loudness=loudness,
                     edited=opening > 0.05, thumb_frames=thumb_frames, thumbs_before=list(before),
                     thumbs_after=list(after), mouth_sheet=sheet,
                     mouth_sheet_frames=np.linspace(0, n_frames - 1, n_thumbs).round().astype(np.int64))


def write_details(details: QADetails, uri: str) -> None:
    with atomic_output(uri, suffix=".npz") as temporary:
        details.to_npz(temporary)


def _qa_columns(sync: float, psnr: float, review: bool, reasons: list[str]) -> dict[str, Any]:
    figures = {"sync_corr": sync, "av_offset_frames": 1.0, "outside_psnr_db": psnr, "seam_score": 0.021,
               "flicker_ratio": 1.08, "jitter_ratio": 0.9, "edited_share": 0.62, "note": "<i>not markup</i>"}
    return dict(qa_sync_corr=sync, qa_av_offset_frames=1.0, qa_outside_psnr_db=psnr, qa_seam_score=0.021,
                qa_flicker_ratio=1.08, qa_jitter_ratio=0.9, qa_edited_share=0.62, qa_source_av_offset_frames=0.0,
                qa_source_sync_corr=0.7, qa_figures=json.dumps(figures), needs_review=review,
                review_reasons=json.dumps(reasons))


def build_run(run_uri: str, work_uri: str) -> dict[str, dict[str, Any]]:
    """Write a results manifest (and summary.json) under ``run_uri`` and QA details under
    ``work_uri``; returns the rows by item id."""
    common = dict(fps_num=25, fps_den=1, language="de", seconds_probe=0.2, seconds_analyze=3.1,
                  seconds_render=5.4, seconds_qa=0.8)
    ok_qa = join_uri(work_uri, OK_ID, "qa.npz")
    review_qa = join_uri(work_uri, REVIEW_ID, "qa.npz")
    write_details(make_details(150, seed=1), ok_qa)
    write_details(make_details(3000, seed=2, gap=(900, 1300)), review_qa)
    rows = [
        empty_row(item_id=OK_ID, status="ok", video_uri="s3://in/clip-ok.mp4", audio_uri="s3://in/clip-ok.de.wav",
                  output_uri="s3://out/clip-ok.de.mp4", qa_uri=ok_qa, n_output_frames=150, speaker_found_share=0.98,
                  finished_at="2025-01-02T03:04:05.000000Z", **common, **_qa_columns(0.71, 38.2, False, [])),
        empty_row(item_id=REVIEW_ID, status="ok", video_uri="s3://in/clip-review.mp4", qa_uri=review_qa,
                  n_output_frames=3000, speaker_found_share=0.81, finished_at="2025-01-02T03:09:00.000000Z",
                  **common, **_qa_columns(0.12, 31.5, True, REVIEW_REASONS)),
        empty_row(item_id=MALICIOUS_ID, status="failed", failed_stage="analyze", error=MALICIOUS_ERROR,
                  video_uri="s3://in/<b>odd</b>.mp4", language="fr", seconds_probe=0.3, seconds_analyze=1.2,
                  finished_at="2025-01-02T03:05:00.000000Z"),
        empty_row(item_id=PENDING_ID, status="pending", language="es",
                  error="not finished: the run stopped before this item completed; rerun to finish it"),
        empty_row(item_id=GONE_ID, status="ok", qa_uri=join_uri(work_uri, GONE_ID, "qa.npz"), n_output_frames=75,
                  speaker_found_share=1.0, finished_at="2025-01-02T03:06:00.000000Z", **common,
                  **_qa_columns(0.55, 40.0, False, [])),
        empty_row(item_id=SKIPPED_ID, status="skipped", language="it", finished_at="2025-01-01T00:00:00.000000Z"),
    ]
    write_rows(rows, join_uri(run_uri, RESULTS_FILE))
    with open_uri(join_uri(run_uri, SUMMARY_FILE), "wb") as handle:
        handle.write(json.dumps({"run_id": "run-1", "wall_seconds": 42.0, "interrupted": True}).encode())
    return {row["item_id"]: row for row in rows}
