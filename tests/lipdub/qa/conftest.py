"""Real small videos for the QA tests: the demo source, variants of it made by editing its frames
(untouched, a hard-edged paste, a feathered paste) and a copy whose own audio runs late."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lipdub.audio.features import SAMPLE_RATE, frames_at, loudness
from lipdub.face.analysis import analyze_faces
from lipdub.face.analysis_record import FaceAnalysis
from lipdub.media.audio_io import load_audio
from lipdub.media.mux import mux_segments
from lipdub.media.probe import probe_video
from lipdub.media.video_reader import iter_frames
from lipdub.media.video_writer import VideoWriter

FrameEdit = Callable[[np.ndarray, np.ndarray], np.ndarray]


def write_variant(source: Path, out: Path, faces: FaceAnalysis, audio: np.ndarray, edit: FrameEdit | None = None) -> Path:
    """``source``'s frames, each passed through ``edit(frame, landmarks)``, with ``audio`` (16 kHz).
    Without ``edit`` the source's video stream is copied as it is (no re-encoding)."""
    if edit is None:
        mux_segments([str(source)], audio, SAMPLE_RATE, str(out))
        return out
    info = probe_video(str(source))
    width, height = info.display_size
    frames_only = out.with_suffix(".frames.mp4")
    with VideoWriter(str(frames_only), width, height, info.fps) as writer:
        for index, frame in enumerate(iter_frames(str(source))):
            writer.write(edit(frame.copy(), faces.landmarks[index]))
    mux_segments([str(frames_only)], audio, SAMPLE_RATE, str(out))
    frames_only.unlink()
    return out


@pytest.fixture(scope="session")
def qa_source(demo_inputs) -> tuple[Path, Path, FaceAnalysis]:
    """The demo source (its mouth follows its own speech), its dub, and the source's analysis."""
    source, dub = demo_inputs
    info = probe_video(str(source))
    own = frames_at(loudness(load_audio(str(source), sample_rate=SAMPLE_RATE)), info.n_frames, float(info.fps))
    return source, dub, analyze_faces(str(source), source_loudness=own)


@pytest.fixture(scope="session")
def untouched_output(qa_source, tmp_path_factory) -> Path:
    """The source picture with the dub laid over it: out of sync with the dub by construction."""
    source, dub, faces = qa_source
    folder = tmp_path_factory.mktemp("qa_untouched")
    return write_variant(source, folder / "untouched.mp4", faces, load_audio(str(dub), sample_rate=SAMPLE_RATE))
