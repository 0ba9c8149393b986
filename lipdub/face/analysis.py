"""Face analysis of a whole video: the speaker's smoothed landmarks per frame, cuts and counts.

Streams the frames once: per frame a 64x36 gray copy for cut detection, then the tracker (one
mesh run per tracked face, the detector only now and then). Only landmarks are kept, never frames,
so memory grows by ~4 KB per frame and face. At the end the speaker track is chosen and smoothed.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from lipdub.errors import InputError
from lipdub.face import geometry
from lipdub.face.analysis_record import FaceAnalysis, landmark_boxes  # noqa: F401 - re-exported
from lipdub.face.cuts import ShotCutDetector, small_gray
from lipdub.face.detect import FaceDetector
from lipdub.face.mesh import FaceMesher
from lipdub.face.speaker import pick_speaker
from lipdub.face.smoothing import smooth_landmarks
from lipdub.face.track import FaceTrack, FaceTracker
from lipdub.media.probe import probe_video
from lipdub.media.video_reader import FramePair, iter_frame_pairs, iter_frames

logger = logging.getLogger(__name__)

def _fit_length(values: np.ndarray, n_frames: int) -> np.ndarray:
    """Loudness per frame trimmed or padded (with its last value) to the video's frame count."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if abs(len(values) - n_frames) > 2:
        logger.warning("source loudness has %d values for %d video frames; aligning from the start",
                       len(values), n_frames)
    if len(values) >= n_frames:
        return values[:n_frames]
    fill = values[-1] if len(values) else 0.0
    return np.concatenate([values, np.full(n_frames - len(values), fill)])


_END = object()


def prefetched(frames: Iterable[np.ndarray], depth: int = 6) -> Iterator[np.ndarray]:
    """Iterate ``frames`` from a background thread, at most ``depth`` ahead.

    Why: decoding (PyAV) and the landmark model (MediaPipe) both release the GIL, so on two cores
    decoding the next frames while the current one is measured cuts the wall time by about a third.
    Errors raised while decoding are re-raised here; stopping early stops the thread.
    """
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        source = iter(frames)
        try:
            for frame in source:
                while not stop.is_set():
                    try:
                        buffer.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
            else:
                buffer.put(_END)
        except Exception as exc:  # handed to the consumer, which re-raises it
            buffer.put(exc)
        finally:
            close = getattr(source, "close", None)
            if stop.is_set() and close is not None:
                close()

    worker = threading.Thread(target=produce, name="frame-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()


# Called per frame with (frame index, full-resolution frame, [(track id, landmarks (468, 2) in its
# pixels)] for each face tracked in it): lets one decode serve analysis and whatever needs the
# full picture (the mouth atlas's region spool).
FaceObserver = Callable[[int, np.ndarray, list[tuple[int, np.ndarray]]], None]


def analyze_frames(frames: Iterable[np.ndarray] | Iterable[FramePair], *, fps: float,
                   source_loudness: np.ndarray | None = None,
                   speaker_point: Sequence[float] | None = None, full_size: tuple[int, int] | None = None,
                   source_name: str = "the video", detector: FaceDetector | None = None,
                   mesher: FaceMesher | None = None, detect_every_s: float = 0.4,
                   tiles_every_s: float = 3.0, observer: FaceObserver | None = None) -> FaceAnalysis:
    """``analyze_faces`` on frames already decoded (upright RGB, in order).

    ``full_size`` (width, height): the video's full display size when ``frames`` are a downscaled
    copy; landmarks are scaled up to it. Frames may come as `FramePair`s (analysis copy + full
    frame): then ``observer``, if given, sees each full frame with the faces tracked in it.
    A detector/mesher passed in is borrowed, not closed.
    ``detect_every_s`` / ``tiles_every_s``: how often the detector looks for new faces, and for new
    small faces with zoomed tiles, besides the first frame, each cut and each lost track.
    """
    own_detector, own_mesher = detector is None, mesher is None
    detector = detector or FaceDetector()
    mesher = mesher or FaceMesher()
    try:
        tracker = FaceTracker(detector, mesher, detect_every=max(1, round(detect_every_s * fps)),
                              tiles_every=max(1, round(tiles_every_s * fps)))
        cuts = ShotCutDetector()
        cut_flags: list[bool] = []
        face_counts: list[int] = []
        frame_size: tuple[int, int] | None = None
        started = time.perf_counter()
        for item in frames:
            frame, full = (item.small, item.full) if isinstance(item, FramePair) else (item, None)
            if frame_size is None:
                frame_size = (frame.shape[1], frame.shape[0])
            cut = cuts.update(small_gray(frame))
            cut_flags.append(cut)
            faces = tracker.update(frame, cut_before=cut)
            face_counts.append(len(faces))
            if observer is not None and full is not None:
                scale = np.array([full.shape[1] / frame.shape[1], full.shape[0] / frame.shape[0]], np.float32)
                observer(len(cut_flags) - 1, full, [(track_id, landmarks * scale) for track_id, landmarks in faces])
        elapsed = time.perf_counter() - started
    finally:
        if own_detector:
            detector.close()
        if own_mesher:
            mesher.close()
    n_frames = len(cut_flags)
    tracks = tracker.tracks()
    logger.info("%s: %d frames, %d cuts, %d face tracks in %.1f s (%.1f ms/frame; %s)", source_name, n_frames,
                sum(cut_flags), len(tracks), elapsed, 1000 * elapsed / max(n_frames, 1), tracker.stats)
    if not tracks:
        raise InputError(f"no face found in {source_name}")
    assert frame_size is not None
    width, height = full_size or frame_size
    if (width, height) != frame_size:
        tracks = [track.scaled(width / frame_size[0], height / frame_size[1]) for track in tracks]
    loudness = None if source_loudness is None else _fit_length(source_loudness, n_frames)
    speaker = pick_speaker(tracks, loudness, speaker_point, fps=fps)
    chosen: FaceTrack = next(track for track in tracks if track.track_id == speaker)
    raw, valid = chosen.dense(n_frames)
    cut_before = np.asarray(cut_flags, dtype=bool)
    raw_opening = np.full(n_frames, np.nan, np.float32)
    if valid.any():
        raw_opening[valid] = geometry.mouth_opening(raw[valid])
    landmarks = smooth_landmarks(raw, valid, cut_before, fps)
    landmarks[~valid] = 0.0
    return FaceAnalysis(landmarks=landmarks, valid=valid, cut_before=cut_before, n_tracks=len(tracks),
                        speaker_track=speaker, width=int(width), height=int(height), fps=float(fps),
                        n_faces=np.asarray(face_counts, dtype=np.int16), raw_opening=raw_opening)


def analyze_faces(path: str | os.PathLike[str], *, source_loudness: np.ndarray | None = None,
                  speaker_point: Sequence[float] | None = None, max_side: int | None = None,
                  observer: FaceObserver | None = None) -> FaceAnalysis:
    """Detect, track and smooth faces in a video file and pick the speaker.

    ``source_loudness``: the source audio's loudness in dB per video frame (as
    ``frames_at(loudness(samples), n_frames, fps)`` from ``lipdub.audio.features`` gives it), used
    to find the face that speaks; ``speaker_point``: a hint instead, ``(x, y)`` or
    ``(frame, x, y)`` in full-resolution pixels, see ``lipdub.face.speaker``. ``max_side``: analyse a copy downscaled so its longer side is at most
    this (faster on big videos; landmarks are still returned in full-resolution pixels).
    ``observer``: sees every full-resolution frame with its tracked faces, from the same decode.
    Raises ``InputError("no face found in <path>")`` when no frame has a face.
    """
    info = probe_video(path)
    frames = iter_frames(path, max_side=max_side) if observer is None else iter_frame_pairs(path, max_side=max_side)
    return analyze_frames(prefetched(frames), fps=float(info.fps),
                          source_loudness=source_loudness, speaker_point=speaker_point,
                          full_size=info.display_size, source_name=os.fspath(path), observer=observer)
