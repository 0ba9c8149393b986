"""`lipdub eval languages`: contact sheets of the shared clips dubbed in German, French, Japanese
and Chinese, to look at closures and openings where the speech has them.

No phone recognizer exists here for those languages and the QA gate's sync figure rewards
loudness-following, so this is for eyes: for each dub, the output's mouth is measured with Face
Mesh; the sheet shows the lower face at the output's widest openings and tightest closures while
the dub is speaking (each labelled with its time, its opening and the dub's loudness there), above
a strip chart of the dub's loudness and the output's opening over the whole clip. A mouth that
only follows loudness opens at every loud frame; one that follows speech also closes inside
loud stretches (p, b, m) and rounds or spreads.

The items are ``../shared/media/catalog.csv``'s rows in those languages (one real or generated
face each); they run through the full pipeline as one catalog.
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lipdub.audio.features import SAMPLE_RATE, frames_at, loudness
from lipdub.config import PipelineConfig
from lipdub.evaluation.contact_sheet import labelled, tile
from lipdub.face.analysis import analyze_faces
from lipdub.face.analysis_record import landmark_boxes
from lipdub.media.audio_io import load_audio
from lipdub.media.probe import probe_video
from lipdub.media.video_reader import iter_frames
from pipelines.evaluation.shared_media import shared_catalog_rows

log = logging.getLogger(__name__)

__all__ = ["run_language_sheets", "DEFAULT_LANGUAGES"]

DEFAULT_LANGUAGES = ("de", "fr", "ja", "zh")
SPEAKING_DB = -35.0  # dub loudness above which a frame counts as speech for picking moments


def _moments(opening: np.ndarray, speaking: np.ndarray, count: int, fps: float) -> tuple[list[int], list[int]]:
    """Frames of the widest openings and tightest closures while speaking, at least 0.2 s apart."""
    gap = max(int(0.2 * fps), 1)

    def pick(order: np.ndarray) -> list[int]:
        chosen: list[int] = []
        for frame in order:
            if speaking[frame] and np.isfinite(opening[frame]) and all(abs(frame - c) >= gap for c in chosen):
                chosen.append(int(frame))
            if len(chosen) == count:
                break
        return sorted(chosen)

    finite = np.where(np.isfinite(opening), opening, np.nan)
    return pick(np.argsort(-np.nan_to_num(finite, nan=-1.0))), pick(np.argsort(np.nan_to_num(finite, nan=9.0)))


def _strip_chart(loud_db: np.ndarray, opening: np.ndarray, marks: dict[int, tuple[int, int, int]], width: int) -> np.ndarray:
    """Loudness (grey) and output opening (green) over time; picked frames marked."""
    height = 160
    chart = np.full((height, width, 3), 24, np.uint8)
    n = len(opening)
    xs = (np.arange(n) * (width - 1) / max(n - 1, 1)).astype(int)

    def line(values: np.ndarray, colour: tuple[int, int, int]) -> None:
        finite = np.isfinite(values)
        if finite.sum() < 2:
            return
        lo, hi = np.nanpercentile(values, 2), np.nanpercentile(values, 98)
        ys = (height - 10 - (np.clip(values, lo, hi) - lo) / max(hi - lo, 1e-9) * (height - 20)).astype(int)
        points = np.stack([xs[finite], ys[finite]], axis=1).reshape(-1, 1, 2)
        cv2.polylines(chart, [points], False, colour, 2, cv2.LINE_AA)

    line(loud_db, (150, 150, 150))
    line(opening, (60, 220, 60))
    for frame, colour in marks.items():
        cv2.line(chart, (int(xs[frame]), 0), (int(xs[frame]), height - 1), colour, 1)
    cv2.putText(chart, "grey: dub loudness   green: output mouth opening", (8, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                (230, 230, 230), 1, cv2.LINE_AA)
    return chart


def write_language_sheet(output_video: str, dub_audio: str, out_png: str, title: str, count: int = 4) -> dict[str, Any]:
    """One sheet for one dubbed output; returns the figures shown on it."""
    info = probe_video(output_video)
    fps, n = float(info.fps), int(info.n_frames)
    faces = analyze_faces(output_video)
    opening = faces.mouth_measurements(missing=np.nan).astype(np.float64)[:, 0]
    samples = load_audio(dub_audio, SAMPLE_RATE)
    loud_db = frames_at(loudness(samples), n, fps)
    speaking = loud_db > SPEAKING_DB
    opens, closes = _moments(opening, speaking, count, fps)
    boxes = landmark_boxes(faces.landmarks, faces.valid)
    wanted = {f: "open" for f in opens} | {f: "closed" for f in closes}
    cells: dict[int, np.ndarray] = {}
    for index, frame in enumerate(iter_frames(output_video)):
        if index in wanted:
            x0, y0, x1, y1 = boxes[index]
            mid_y = (y0 + y1) / 2  # the lower half of the face box: nose tip to chin
            crop = frame[int(max(mid_y, 0)):int(min(y1 + 0.1 * (y1 - y0), frame.shape[0])), int(max(x0, 0)):int(min(x1, frame.shape[1]))]
            text = f"{wanted[index]} {index / fps:.2f}s o={opening[index]:.2f} {loud_db[index]:.0f}dB"
            cells[index] = labelled(cv2.resize(crop, (320, max(1, round(crop.shape[0] * 320 / max(crop.shape[1], 1))))), text)
    row_open = [cells[f] for f in opens if f in cells]
    row_closed = [cells[f] for f in closes if f in cells]
    grid = tile(row_open + row_closed, columns=max(count, 1), cell_width=320)
    marks = {f: (60, 220, 60) for f in opens} | {f: (220, 80, 80) for f in closes}
    chart = _strip_chart(loud_db, opening, marks, grid.shape[1])
    header = np.full((36, grid.shape[1], 3), 0, np.uint8)
    cv2.putText(header, title, (8, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
    sheet = np.concatenate([header, grid, chart], axis=0)
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(out_png, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    finite = np.isfinite(opening) & speaking
    corr = float(np.corrcoef(opening[finite], loud_db[finite])[0, 1]) if finite.sum() > 3 else float("nan")
    return {"sheet": out_png, "open_frames": opens, "closed_frames": closes,
            "opening_loudness_r_while_speaking": corr, "frames": n}


def run_language_sheets(media: Path, out_dir: Path, *, languages: tuple[str, ...] = DEFAULT_LANGUAGES,
                        motion_checkpoint: str | None = "default", work_root: str | None = None) -> dict[str, Any]:
    """Dub the shared catalog's rows in ``languages`` and write one sheet each into ``out_dir``."""
    from lipdub.catalog import write_catalog
    from lipdub.results import read_results
    from pipelines.catalog_run import run_catalog
    from pipelines.ray_adapter import ensure_ray

    rows = [r for r in shared_catalog_rows(media) if r["language"] in languages]
    if not rows:
        raise ValueError(f"no row of {media}/catalog.csv in {', '.join(languages)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    config = PipelineConfig().with_overrides(work_root=work_root)
    if motion_checkpoint != "default":
        config = replace(config, motion_checkpoint=motion_checkpoint)
    catalog = Path(tempfile.mkdtemp(prefix="lipdub-languages-")) / "catalog.parquet"
    write_catalog(rows, str(catalog))
    ensure_ray()
    summary = run_catalog(str(catalog), output_root=str(out_dir / "outputs"), config=config, force=True)
    by_item = {r["item_id"]: r for r in read_results(summary.results_uri)}
    report: dict[str, Any] = {"checkpoint": config.motion_checkpoint, "items": {}}
    for row in rows:
        result = by_item.get(row["item_id"], {})
        if result.get("status") != "ok":
            report["items"][row["item_id"]] = {"status": result.get("status", "missing"), "error": result.get("error", "")}
            continue
        title = f"{row['item_id']}: {Path(row['audio_uri']).name} dubbed onto {Path(row['video_uri']).name} ({config.motion_checkpoint})"
        report["items"][row["item_id"]] = write_language_sheet(result["output_uri"], row["audio_uri"],
                                                               str(out_dir / f"{row['item_id']}.png"), title)
        log.info("%s: %s", row["item_id"], report["items"][row["item_id"]]["sheet"])
    return report
