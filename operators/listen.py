"""listen: speech features of the dub (and, cached, of the source's own audio track).

Input columns: audio_uri, video_uri, source_fingerprint, dub_seconds, work_dir.
Output columns: dub_speech_uri, source_speech_uri (null when the source has no audio).
Fan-out: 1 -> 1. Holds silero-vad and pocketsphinx: runs on an actor pool, models loaded once.
A dub with no speech at all fails the item (it would produce a silent, motionless mouth).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lipdub.audio.features import SAMPLE_RATE, SpeechFeatures, analyze_speech
from lipdub.audio.phonemes import PhoneRecognizer
from lipdub.audio.vad import VoiceActivity
from lipdub.errors import InputError
from lipdub.fingerprint import combine
from lipdub.media.audio_io import load_audio
from lipdub.storage import local_path
from lipdub.work_store import analysis_dir, local_work_path
from operators.base import Operator

log = logging.getLogger(__name__)

SOURCE_SPEECH_FILE = "source_speech.npz"
# Below this peak speech probability the dub holds no speech to lip-sync.
MIN_SPEECH_PROBABILITY = 0.5


class ListenOperator(Operator):
    name = "listen"

    def setup(self) -> None:
        self.vad = VoiceActivity()
        self.recognizer = PhoneRecognizer()

    def _speech(self, samples, transcript: str | None = None) -> SpeechFeatures:
        return analyze_speech(samples, self.vad, self.recognizer, transcript=transcript)

    def process(self, row: dict[str, Any]) -> dict[str, Any]:
        with local_path(row["audio_uri"]) as audio_path:
            samples = load_audio(audio_path, sample_rate=SAMPLE_RATE)
        if len(samples) == 0 or float(abs(samples).max()) < 1e-4:
            raise InputError(f"the dub {row['audio_uri']} is silent")
        dub = self._speech(samples, row.get("transcript"))
        if float(dub.speech_prob.max(initial=0.0)) < MIN_SPEECH_PROBABILITY:
            raise InputError(f"no speech found in the dub {row['audio_uri']}")
        work_dir = local_work_path(row["work_dir"])
        work_dir.mkdir(parents=True, exist_ok=True)
        dub_path = work_dir / "dub_speech.npz"
        dub.to_npz(str(dub_path))
        row["dub_speech_uri"] = str(dub_path)
        row["source_speech_uri"] = self._source_speech(row)
        return row

    def _source_speech(self, row: dict[str, Any]) -> str | None:
        """The source's own speech features, computed once per source video."""
        limit_s = self.config.listen.calibration_seconds
        directory = analysis_dir(self.config.work_root, combine(row["source_fingerprint"], "speech", limit_s))
        path = directory / SOURCE_SPEECH_FILE
        if path.exists():
            return str(path)
        with local_path(row["video_uri"]) as video_path:
            try:
                samples = load_audio(video_path, sample_rate=SAMPLE_RATE)
            except InputError:
                return None  # no audio track: the motion model falls back to generic rules
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(str(path) + ".tmp.npz")
        self._speech(samples[: int(limit_s * SAMPLE_RATE)]).to_npz(str(staging))
        staging.replace(path)
        return str(path)
