"""Contact sheets: a grid of frames (or before/after pairs) written to PNG for people to look at."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from lipdub.media.video_reader import iter_frames


def tile(frames: Sequence[np.ndarray], columns: int, cell_width: int = 256) -> np.ndarray:
    """Frames resized to one cell width and laid out row by row on a black canvas."""
    if not frames:
        raise ValueError("no frames to tile")
    cells = []
    for frame in frames:
        height = max(1, round(frame.shape[0] * cell_width / frame.shape[1]))
        cells.append(cv2.resize(frame, (cell_width, height), interpolation=cv2.INTER_AREA))
    cell_height = max(cell.shape[0] for cell in cells)
    rows = -(-len(cells) // columns)
    sheet = np.zeros((rows * cell_height, columns * cell_width, 3), dtype=np.uint8)
    for index, cell in enumerate(cells):
        r, c = divmod(index, columns)
        sheet[r * cell_height : r * cell_height + cell.shape[0], c * cell_width : (c + 1) * cell_width] = cell
    return sheet


def sample_frames(video: str, count: int) -> list[np.ndarray]:
    """``count`` frames evenly spread over a video (one decoding pass)."""
    from lipdub.media.probe import probe_video

    total = probe_video(video).n_frames
    wanted = set(np.linspace(0, total - 1, num=min(count, total)).round().astype(int).tolist())
    return [frame for index, frame in enumerate(iter_frames(video)) if index in wanted]


def labelled(frame: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``frame`` with ``text`` in its top-left corner on a dark band (readable on any
    picture; sized to the frame so it survives the sheet's resizing)."""
    out = frame.copy()
    scale = max(0.4, frame.shape[1] / 640)
    thickness = max(1, round(scale * 1.5))
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(2, round(4 * scale))
    band = out[: height + baseline + 2 * pad, : width + 2 * pad]
    band[...] = (band * 0.35).astype(np.uint8)
    cv2.putText(out, text, (pad, pad + height), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out


def write_contact_sheet(video: str, out_png: str, count: int = 12, columns: int = 4, before: str | None = None) -> str:
    """A PNG of frames spread over ``video``; with ``before``, each cell pairs source | output,
    labelled so."""
    after = sample_frames(video, count)
    if before is not None:
        originals = sample_frames(before, count)
        after = [np.concatenate([labelled(b, "source"), labelled(a, "output")], axis=1) for b, a in zip(originals, after)]
    sheet = tile(after, columns, cell_width=512 if before is not None else 256)
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(out_png, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return out_png
