"""`lipdub demo`: a sample of the project's own making, dubbed end to end.

The source is scikit-image's astronaut photo animated into a talking face whose mouth follows
synthesized speech (its "own" audio track); the dub is a different synthesized utterance, longer
than the video, so the default sync mode (bounce) is exercised too.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from lipdub.audio.features import SAMPLE_RATE, frames_at, loudness
from lipdub.demo.speech import synthesize_speech
from lipdub.evaluation.contact_sheet import write_contact_sheet
from lipdub.demo.face import make_talking_face_video
from lipdub.media.audio_io import write_wav
from lipdub.media.mux import mux_segments
from jobs.dub_one import dub_one

log = logging.getLogger(__name__)

DEMO_FPS = 25
SOURCE_SYLLABLES = "ba da ma pa ta ka, la na sa ba da"
DUB_SYLLABLES = "mo ri ta ka no, sa mi do re pa, lu ka ba to me"


def speech_openings(samples: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
    """Per-frame mouth opening in [0, 1] that follows a speech signal's loudness."""
    loud = frames_at(loudness(samples), n_frames, fps)
    low, high = np.percentile(loud, [10, 95])
    return np.clip((loud - low) / max(high - low, 1e-6), 0.0, 1.0)


def build_demo_inputs(folder: Path) -> tuple[Path, Path]:
    """Write the sample source video (with its own speech) and the dub track; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    own = synthesize_speech(SOURCE_SYLLABLES, seed=1, sample_rate=SAMPLE_RATE)
    n_frames = int(len(own.samples) / SAMPLE_RATE * DEMO_FPS)
    frames_only = folder / "source_frames.mp4"
    make_talking_face_video(
        str(frames_only), seconds=n_frames / DEMO_FPS, fps=DEMO_FPS, openings=speech_openings(own.samples, n_frames, DEMO_FPS), seed=1
    )
    source = folder / "source.mp4"
    mux_segments([str(frames_only)], own.samples, SAMPLE_RATE, str(source))
    frames_only.unlink()
    dub = synthesize_speech(DUB_SYLLABLES, seed=2, sample_rate=SAMPLE_RATE)
    dub_path = folder / "dub.wav"
    write_wav(str(dub_path), dub.samples, SAMPLE_RATE)
    return source, dub_path


def run_demo(out_dir: Path) -> dict[str, Any]:
    out_dir = Path(out_dir)
    source, dub = build_demo_inputs(out_dir)
    output = out_dir / "dubbed.mp4"
    result = dub_one(video=str(source), audio=str(dub), output=str(output), work_root=str(out_dir / "work"), item_id="demo")
    if result["status"] == "ok":
        result["contact_sheet"] = write_contact_sheet(str(output), str(out_dir / "contact_sheet.png"), before=str(source), count=8, columns=2)
    return result


__all__ = ["run_demo", "build_demo_inputs"]
