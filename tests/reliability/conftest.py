"""A session-wide "zoo" of bad and odd inputs, generated small, in a folder with a hard name.

Every file lives under ``.../Dubs ä ñ 日本/`` (non-ASCII and spaces), so every test that uses the
zoo also checks that paths like that survive every stage. Talking-face videos are the animated
astronaut (`lipdub.demo.face`) at <= 320 px and about two seconds; the dubs are synthesized
speech (`lipdub.demo.speech`). The whole zoo takes a few seconds to make.

Files are named for what they are ("truncated.mp4", "dub 8 kHz.wav", "an mp4 named.wav"...);
tests look them up with ``zoo["name"]`` (see `build_zoo` for the list).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.lipdub.media._media_fixtures import write_vfr_video

FPS = 25
BASE_SIZE = (256, 256)  # (width, height) of the talking-face videos
BASE_SECONDS = 2.0
SOURCE_SYLLABLES = "ba da ma pa, ta ka la"
DUB_SYLLABLES = "mo ri ta ka, sa mi do"
ZOO_FOLDER_NAME = "Dubs ä ñ 日本"


@dataclass
class Zoo:
    """Paths of the generated inputs by name, plus facts the tests check outputs against."""

    folder: Path
    files: dict[str, Path] = field(default_factory=dict)
    facts: dict[str, object] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Path:
        return self.files[name]


def _speech(syllables: str, seed: int, *, trim: bool = False) -> np.ndarray:
    """Synthesized speech at 16 kHz; ``trim`` drops the leading silence the synthesizer adds."""
    from lipdub.demo.speech import synthesize_speech

    speech = synthesize_speech(syllables, seed=seed, sample_rate=16000)
    start = int(max(0.0, speech.phones[0].start_s - 0.02) * 16000) if trim else 0
    return speech.samples[start:]


def _write_frames(path: Path, frames, size: tuple[int, int], fps, rotation: int = 0) -> Path:
    from lipdub.media.video_writer import VideoWriter

    with VideoWriter(path, size[0], size[1], fps, rotation=rotation, preset="ultrafast") as writer:
        for frame in frames:
            writer.write(frame)
    return path


def _write_aac(path: Path, samples: np.ndarray, rate: int, channels: int) -> Path:
    """AAC in an mp4/m4a container: `samples` (n,) mono copied into `channels` channels."""
    layout = {1: "mono", 2: "stereo", 8: "7.1"}[channels]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=rate, layout=layout)
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout=layout, rate=rate,
                                      frame_size=stream.codec_context.frame_size or 1024)
        packed = np.ascontiguousarray(np.repeat(samples.astype(np.float32)[:, None], channels, axis=1)).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(packed, format="flt", layout=layout)
        frame.sample_rate, frame.pts = rate, 0
        for chunk in resampler.resample(frame) + resampler.resample(None):
            out.mux(stream.encode(chunk))
        out.mux(stream.encode(None))
    return path


def _resample(samples: np.ndarray, rate: int) -> np.ndarray:
    positions = np.arange(int(len(samples) * rate / 16000)) * (16000 / rate)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


def build_zoo(folder: Path) -> Zoo:
    """Write every zoo input into ``folder`` (created); return the `Zoo`."""
    from jobs.demo import speech_openings
    from lipdub.demo.face import (
        make_no_face_video,
        make_talking_face_video,
        make_two_face_video,
        talking_face_frames,
    )
    from lipdub.media.audio_io import write_wav
    from lipdub.media.mux import mux_segments

    folder.mkdir(parents=True, exist_ok=True)
    zoo = Zoo(folder)
    files = zoo.files

    def put(name: str) -> Path:
        files[name] = folder / name
        return files[name]

    # The normal pair: a talking face with its own speech, and a dub of about the same length.
    own = _speech(SOURCE_SYLLABLES, seed=1)
    n_base = int(BASE_SECONDS * FPS)
    openings = speech_openings(own, n_base, FPS)
    frames_only = put("talking (video only).mp4")
    make_talking_face_video(frames_only, seconds=BASE_SECONDS, fps=FPS, openings=openings, size=BASE_SIZE, seed=1)
    mux_segments([str(frames_only)], own, 16000, str(put("talking.mp4")))
    dub = _speech(DUB_SYLLABLES, seed=2)
    write_wav(put("dub.wav"), dub, 16000)

    # Broken or mislabelled files.
    put("zero byte.mp4").write_bytes(b"")
    data = files["talking.mp4"].read_bytes()
    put("truncated.mp4").write_bytes(data[: len(data) // 2])
    shutil.copy(files["talking.mp4"], put("an mp4 named.wav"))
    shutil.copy(files["dub.wav"], put("a wav named.mp4"))
    _write_aac(put("audio only.m4a"), dub, 16000, channels=1)
    put("random bytes.m4a").write_bytes(np.random.default_rng(7).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    put("notes.txt").write_text("Dub for episode 3: see the attached file.\n" * 20)

    # Odd but valid videos.
    make_talking_face_video(put("one frame.mp4"), seconds=1 / FPS, fps=FPS, size=BASE_SIZE, seed=3)
    make_no_face_video(put("no face.mp4"), seconds=1.0, fps=FPS, size=(256, 192))
    present = talking_face_frames(openings, FPS, size=BASE_SIZE, seed=1)
    leaves = [frame for _, frame in zip(range(18), present)]
    leaves += [np.full((BASE_SIZE[1], BASE_SIZE[0], 3), 90, np.uint8) for _ in range(10)]  # background only
    leaves += [frame for _, frame in zip(range(22), present)]
    _write_frames(put("face leaves and returns.mp4"), leaves, BASE_SIZE, Fraction(FPS))
    zoo.facts["face_absent"] = (18, 28)
    make_two_face_video(put("two faces.mp4"), seconds=BASE_SECONDS, fps=FPS, openings=openings, size=(320, 160), seed=4)
    frames_4k = list(talking_face_frames(openings[:6], FPS, size=(3840, 2160), seed=5))
    _write_frames(put("4k.mp4"), frames_4k, (3840, 2160), Fraction(FPS))
    make_talking_face_video(put("rotated 90.mp4"), seconds=BASE_SECONDS, fps=FPS, openings=openings,
                            size=(192, 256), seed=6, rotation=90)
    pts_ms = np.cumsum([0] + [40 if i % 5 else 80 for i in range(1, n_base)]).tolist()  # a frame held every fifth
    write_vfr_video(put("variable rate.mp4"), pts_ms, frames=list(talking_face_frames(openings, FPS, size=BASE_SIZE, seed=7)), rate=FPS)
    rate_2213 = Fraction(2213, 100)
    _write_frames(put("22.13 fps.mp4"), talking_face_frames(openings[:44], float(rate_2213), size=BASE_SIZE, seed=8),
                  BASE_SIZE, rate_2213)

    # Odd but valid dubs, and bad ones.
    _write_aac(put("dub 8 channels.m4a"), _resample(dub, 48000), 48000, channels=8)
    write_wav(put("dub 8 kHz.wav"), _resample(dub, 8000), 8000)
    # A one-second clip and a dub ten times as long (bounced back and forth ten times).
    make_talking_face_video(put("talking one second.mp4"), seconds=1.0, fps=FPS, openings=openings, size=BASE_SIZE, seed=1)
    long_speech = np.concatenate([_speech(DUB_SYLLABLES, seed=s) for s in range(2, 7)])
    write_wav(put("dub ten times longer.wav"), long_speech[: 10 * 16000], 16000)
    write_wav(put("dub short.wav"), _speech("ba mo di", seed=9, trim=True)[:8000], 16000)  # 0.5 s of speech
    write_wav(put("dub silent.wav"), np.zeros(int(BASE_SECONDS * 16000), np.float32), 16000)
    return zoo


@pytest.fixture(scope="session")
def zoo(tmp_path_factory) -> Zoo:
    """The generated bad and odd inputs, in a folder whose name has non-ASCII letters and spaces."""
    return build_zoo(tmp_path_factory.mktemp("zoo") / ZOO_FOLDER_NAME)
