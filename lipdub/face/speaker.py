"""Which face track is the speaker.

Automatic choice: the face whose mouth opening follows the source audio. Both signals are
compared in the syllable band, where a speaking mouth and the sound envelope move together: the
loudness (dB, as ``lipdub.audio.features.loudness`` gives it, per video frame) is turned into
linear amplitude, and both it and the track's mouth opening (geometry.mouth_opening) lose their
0.5 s moving average (phrase-level swells and slow head or expression changes are not syllables).
The Pearson correlation over the frames where the face was seen, best over a lag of up to one
frame, is turned into significance, Fisher's z = atanh(r) * sqrt(n - 3), so a face seen for 15
frames that happens to correlate does not beat a face that talks for the whole clip.
(Measured on the 11 clips in ../shared/media: z of the speaker 2.8 to 8.9, median 5.4; the raw dB
correlation gave -0.9 to 8.4.)

Score = z + ln(presence / largest presence), where presence is the sum over frames of the face
size: among faces that all correlate a bit, the bigger, longer-seen one is more likely the speaker.
When there is no loudness, or no track reaches z >= MIN_Z (a silent or music-only source), the
most present face wins.

A hint overrides this: ``speaker_point`` in upright full-resolution pixels.
- ``(x, y)``: frames are scanned in order; in the first frame where the landmark bounding box of
  some track contains the point, that track is the speaker (the smallest such box if several).
- ``(frame_index, x, y)``: the track whose box contains the point in that frame.
A point inside no face raises ``InputError``.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from scipy.ndimage import uniform_filter1d

from lipdub.errors import InputError
from lipdub.face.track import FaceTrack

logger = logging.getLogger(__name__)

MIN_FRAMES = 8  # fewer frames than this: no correlation is computed for the track
MIN_Z = 2.0  # Fisher z below this: not evidence that the face is speaking
MAX_LAG = 1  # frames
SYLLABLE_WINDOW_S = 0.5  # moving average removed from both signals


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 1e-12 else 0.0


def _high_pass(values: np.ndarray, window: int) -> np.ndarray:
    """``values`` minus their moving average, ignoring NaN (frames where the face was not seen)."""
    seen = np.isfinite(values)
    filled = np.where(seen, values, 0.0)
    total = uniform_filter1d(filled, window, mode="nearest")
    count = uniform_filter1d(seen.astype(np.float64), window, mode="nearest")
    return values - total / np.maximum(count, 1e-9)


def speech_correlation(track: FaceTrack, loudness_db: np.ndarray, fps: float = 25.0) -> tuple[float, int]:
    """(best syllable-band correlation over lags, frames used) of a track's opening with the loudness."""
    loudness_db = np.asarray(loudness_db, dtype=np.float64).reshape(-1)
    n_frames = len(loudness_db)
    keep = track.frames < n_frames
    if keep.sum() < MIN_FRAMES:
        return 0.0, 0
    window = max(3, int(round(SYLLABLE_WINDOW_S * fps)))
    amplitude = _high_pass(10.0 ** (np.clip(loudness_db, -100.0, 20.0) / 20.0), window)
    opening = np.full(n_frames, np.nan)
    opening[track.frames[keep]] = track.mouth_opening()[keep]
    opening = _high_pass(opening, window)
    best, used = 0.0, 0
    for lag in range(-MAX_LAG, MAX_LAG + 1):
        frames = track.frames[keep]  # the sound at frame t + lag goes with the mouth at frame t
        frames = frames[(frames + lag >= 0) & (frames + lag < n_frames)]
        if len(frames) < MIN_FRAMES:
            continue
        r = _correlation(opening[frames], amplitude[frames + lag])
        if used == 0 or r > best:
            best, used = r, len(frames)
    return best, used


def speaker_scores(tracks: Sequence[FaceTrack], loudness_db: np.ndarray, fps: float = 25.0) -> dict[int, float]:
    """Fisher z of each track's opening-loudness correlation (0 for tracks too short to tell)."""
    scores: dict[int, float] = {}
    for track in tracks:
        r, n = speech_correlation(track, loudness_db, fps)
        z = np.arctanh(np.clip(r, -0.999, 0.999)) * np.sqrt(max(n - 3, 0))
        scores[track.track_id] = float(z) if n >= MIN_FRAMES else 0.0
    return scores


def presence(track: FaceTrack) -> float:
    """Sum over the track's frames of the face size in pixels: big, long-lived faces score high."""
    boxes = track.boxes
    if len(boxes) == 0:
        return 0.0
    widths = np.clip(boxes[:, 2] - boxes[:, 0], 0, None)
    heights = np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    return float(np.sqrt(widths * heights).sum())


def track_at_point(tracks: Sequence[FaceTrack], point: Sequence[float]) -> int:
    """The track hinted by ``(x, y)`` or ``(frame_index, x, y)`` (see the module docstring)."""
    if len(point) == 3:
        frame_index, x, y = int(point[0]), float(point[1]), float(point[2])
        frames = [frame_index]
    elif len(point) == 2:
        x, y = float(point[0]), float(point[1])
        frames = sorted({int(f) for track in tracks for f in track.frames})
    else:
        raise InputError(f"speaker point must be (x, y) or (frame, x, y), got {tuple(point)}")
    boxes = {track.track_id: dict(zip(track.frames.tolist(), track.boxes)) for track in tracks}
    for frame in frames:
        hits = []
        for track_id, by_frame in boxes.items():
            box = by_frame.get(frame)
            if box is not None and box[0] <= x <= box[2] and box[1] <= y <= box[3]:
                hits.append(((box[2] - box[0]) * (box[3] - box[1]), track_id))
        if hits:
            return min(hits)[1]
    where = f" in frame {frames[0]}" if len(point) == 3 else ""
    raise InputError(f"speaker point ({x:g}, {y:g}) is not inside any detected face{where}")


def pick_speaker(tracks: Sequence[FaceTrack], source_loudness_per_frame: np.ndarray | None,
                 speaker_point: Sequence[float] | None = None, *, fps: float = 25.0) -> int:
    """Track id of the speaking face (see the module docstring for the rules).

    ``source_loudness_per_frame``: the source audio's loudness in dB per video frame (index =
    frame index), or None.
    """
    if not tracks:
        raise ValueError("no face tracks to pick a speaker from")
    if speaker_point is not None:
        chosen = track_at_point(tracks, speaker_point)
        logger.info("speaker: track %d contains the hinted point %s", chosen, tuple(speaker_point))
        return chosen
    sizes = {track.track_id: presence(track) for track in tracks}
    most_present = max(sizes, key=lambda k: sizes[k])
    if len(tracks) == 1 or source_loudness_per_frame is None:
        return most_present
    z = speaker_scores(tracks, source_loudness_per_frame, fps)
    largest = max(sizes[most_present], 1e-9)
    score = {k: z[k] + float(np.log(max(sizes[k], 1e-9) / largest)) for k in z}
    logger.info("speaker evidence per track (Fisher z of mouth opening vs loudness): %s",
                {k: round(v, 2) for k, v in z.items()})
    if max(z.values()) < MIN_Z:
        logger.info("no face follows the source audio clearly (best z %.2f): taking the most present face",
                    max(z.values()))
        return most_present
    return max(score, key=lambda k: score[k])
