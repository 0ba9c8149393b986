"""Hold-out evaluation of the motion models on real talking-head clips (a dev tool, not a test).

Protocol (the one the project is judged by): for each clip with its own speech, cut it in
halves. The first half (its audio and the mouth opening/width measured on its frames) is the
"source" a model may calibrate on; the second half's audio is the "dub". The prediction for the
second half is compared with the mouth measured on the second half by Pearson correlation, per
clip, for opening and for width.

Models compared: the default model, the viseme rules alone, a naive "loudness -> opening" model
and "untouched" (the first half's real mouth values truncated to the second half's length, what
leaving the video alone would score).

Run: ``.venv/bin/lipdub eval motion [CLIPS_DIR] [--only NAME ...] [--timing]`` (the motion
models alone, on measured mouths; ``lipdub eval holdout`` runs the same protocol through the
whole pipeline).
Mouth measurements (MediaPipe Face Mesh per frame) are cached under /tmp/lipdub_motion_cache.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from lipdub.audio.features import SAMPLE_RATE, SpeechFeatures, analyze_speech, frames_at
from lipdub.audio.phonemes import PhoneRecognizer
from lipdub.audio.vad import VoiceActivity
from models.motion import MotionModel
from models.registry import default_motion_model
from models.viseme_rules import VisemeRulesModel

log = logging.getLogger(__name__)

DEFAULT_CLIPS = Path("/work/shared/media/clips")
CACHE_DIR = Path("/tmp/lipdub_motion_cache")


@dataclass
class ClipMeasure:
    """Per-frame mouth measurements of one clip (NaN-free after gap filling)."""

    opening: np.ndarray
    width: np.ndarray
    fps: float
    valid_fraction: float


def _fill_gaps(values: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN frames (missed detections)."""
    good = np.isfinite(values)
    if good.all() or not good.any():
        return np.nan_to_num(values)
    idx = np.arange(len(values))
    return np.interp(idx, idx[good], values[good])


def measure_clip(path: Path, cache_dir: Path = CACHE_DIR) -> ClipMeasure:
    """Mouth opening/width per frame with MediaPipe Face Mesh, cached by file name and size.

    The largest face is kept (gen_* clips carry a small still portrait inset), and frames where
    the mesh latched onto a much smaller face are treated as missed and interpolated.
    """
    import av  # noqa: PLC0415  (heavy imports only when measuring)
    import mediapipe as mp  # noqa: PLC0415

    from lipdub.face import geometry  # noqa: PLC0415

    cache_dir.mkdir(parents=True, exist_ok=True)
    cache = cache_dir / f"{path.stem}_{path.stat().st_size}.npz"
    if cache.exists():
        data = np.load(cache)
        return ClipMeasure(data["opening"], data["width"], float(data["fps"]), float(data["valid_fraction"]))
    openings: list[float] = []
    widths: list[float] = []
    iods: list[float] = []
    with av.open(str(path)) as container, mp.solutions.face_mesh.FaceMesh(
        static_image_mode=False, max_num_faces=1, refine_landmarks=False
    ) as mesh:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        for frame in container.decode(stream):
            rgb = frame.to_ndarray(format="rgb24")
            h, w = rgb.shape[:2]
            result = mesh.process(rgb)
            if not result.multi_face_landmarks:
                openings.append(np.nan)
                widths.append(np.nan)
                iods.append(np.nan)
                continue
            faces = [
                np.array([(p.x * w, p.y * h) for p in face.landmark], dtype=np.float32)
                for face in result.multi_face_landmarks
            ]
            pts = max(faces, key=lambda f: float(geometry.inter_ocular_distance(f)))
            openings.append(float(geometry.mouth_opening(pts)))
            widths.append(float(geometry.mouth_width(pts)))
            iods.append(float(geometry.inter_ocular_distance(pts)))
    opening, width, iod = (np.asarray(v, dtype=np.float64) for v in (openings, widths, iods))
    # A frame where the mesh latched onto the small still inset has a far smaller face: drop it.
    small = iod < 0.6 * np.nanmedian(iod)
    opening[small] = np.nan
    width[small] = np.nan
    valid_fraction = float(np.isfinite(opening).mean())
    measure = ClipMeasure(_fill_gaps(opening), _fill_gaps(width), fps, valid_fraction)
    np.savez(cache, opening=measure.opening, width=measure.width, fps=fps, valid_fraction=valid_fraction)
    log.info("measured %s: %d frames at %.3f fps, %.0f%% valid", path.name, len(opening), fps, 100 * valid_fraction)
    return measure


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    a, b = np.asarray(a[:n], np.float64), np.asarray(b[:n], np.float64)
    if n < 3 or a.std() < 1e-12 or b.std() < 1e-12:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


class LoudnessOpeningModel:
    """Naive baseline: opening follows loudness linearly (fitted on the source), width constant."""

    def fit_speaker(self, source: SpeechFeatures, measured: np.ndarray, fps: float, landmarks: np.ndarray | None = None) -> None:
        loud = frames_at(source.loudness_db, len(measured), fps)
        a, b = np.polyfit(loud, measured[:, 0], 1)
        self._coef = (float(a), float(b))
        self._width = float(np.median(measured[:, 1]))

    def predict(self, dub: SpeechFeatures, n_frames: int, fps: float) -> np.ndarray:
        loud = frames_at(dub.loudness_db, n_frames, fps)
        out = np.empty((n_frames, 2), np.float32)
        out[:, 0] = self._coef[0] * loud + self._coef[1]
        out[:, 1] = self._width
        return out


def evaluate(
    clips_dir: Path, only: list[str] | None = None, cache_dir: Path = CACHE_DIR
) -> dict[str, dict[str, list[float]]]:
    """Run the hold-out protocol over every clip; returns {model: {"opening"|"width": [r per clip]}}."""
    from lipdub.media.audio_io import load_audio  # noqa: PLC0415

    vad = VoiceActivity()
    recognizer = PhoneRecognizer()
    factories: dict[str, Callable[[], MotionModel]] = {
        "default": default_motion_model,
        "rules": VisemeRulesModel,
        "loudness": LoudnessOpeningModel,
    }
    scores: dict[str, dict[str, list[float]]] = {k: {"opening": [], "width": []} for k in [*factories, "untouched"]}
    names: list[str] = []
    for path in sorted(clips_dir.glob("*.mp4")):
        if only and path.stem not in only:
            continue
        measure = measure_clip(path, cache_dir)
        audio = load_audio(str(path), SAMPLE_RATE)
        n = min(len(measure.opening), int(len(audio) / SAMPLE_RATE * measure.fps))
        half = n // 2
        cut = int(round(half / measure.fps * SAMPLE_RATE))
        mouth = np.stack([measure.opening[:n], measure.width[:n]], axis=1)
        source = analyze_speech(audio[:cut], vad, recognizer)
        dub = analyze_speech(audio[cut:], vad, recognizer)
        target = mouth[half:n]
        names.append(path.stem)
        for name, factory in factories.items():
            model = factory()
            model.fit_speaker(source, mouth[:half], measure.fps)
            pred = model.predict(dub, len(target), measure.fps)
            scores[name]["opening"].append(_pearson(pred[:, 0], target[:, 0]))
            scores[name]["width"].append(_pearson(pred[:, 1], target[:, 1]))
        scores["untouched"]["opening"].append(_pearson(mouth[:half, 0], target[:, 0]))
        scores["untouched"]["width"].append(_pearson(mouth[:half, 1], target[:, 1]))
    _report(names, scores)
    return scores


def _report(names: list[str], scores: dict[str, dict[str, list[float]]]) -> None:
    header = f"{'clip':<10}" + "".join(f"{m[:8] + ' o':>10}{'w':>8}" for m in scores)
    log.info("Pearson r (opening / width) per clip, second half predicted from the first")
    log.info(header)
    for i, name in enumerate(names):
        row = "".join(f"{s['opening'][i]:>10.3f}{s['width'][i]:>8.3f}" for s in scores.values())
        log.info(f"{name:<10}{row}")
    mean = "".join(f"{np.mean(s['opening']):>10.3f}{np.mean(s['width']):>8.3f}" for s in scores.values())
    log.info(f"{'mean':<10}{mean}")


def time_listen_and_move(dub_path: Path | None = None, seconds: float = 60.0) -> float:
    """Wall time of analyze_speech + default model predict on a dub of about ``seconds``.

    Uses ``dub_path`` when given (e.g. the 60 s English dub track), else synthesized speech.
    Model loading is not counted: actors load once and serve many items.
    """
    from lipdub.demo.speech import random_syllables, synthesize_speech  # noqa: PLC0415
    from lipdub.media.audio_io import load_audio  # noqa: PLC0415

    vad = VoiceActivity()
    recognizer = PhoneRecognizer()
    if dub_path is not None and dub_path.exists():
        samples = load_audio(str(dub_path), SAMPLE_RATE)[: int(seconds * SAMPLE_RATE)]
    else:
        samples = synthesize_speech(random_syllables(seed=1, duration_s=seconds), seed=1).samples
    fps = 25.0
    source = analyze_speech(samples[: 5 * SAMPLE_RATE], vad, recognizer)
    n_src = int(5 * fps)
    rng = np.random.default_rng(0)
    measured = np.stack([0.05 + 0.05 * rng.random(n_src), 0.5 + 0.03 * rng.random(n_src)], axis=1)
    model = default_motion_model()
    model.fit_speaker(source, measured, fps)
    start = time.perf_counter()
    dub = analyze_speech(samples, vad, recognizer)
    model.predict(dub, int(len(samples) / SAMPLE_RATE * fps), fps)
    elapsed = time.perf_counter() - start
    log.info("listen + move for a %.1f s dub: %.2f s", len(samples) / SAMPLE_RATE, elapsed)
    return elapsed
