"""listen: speech features of the dub (and, cached, of the source's own audio track).

Input columns: audio_uri, video_uri, source_fingerprint, dub_seconds, work_dir.
Output columns: dub_speech_uri, source_speech_uri (null when the source has no audio).
Fan-out: 1 -> 1. Holds silero-vad and pocketsphinx (and, when ``listen.wav2vec2_checkpoint`` is
set, a wav2vec2 model whose embeddings go into both feature files): runs on an actor pool,
models loaded once.
A dub with no speech at all fails the item (it would produce a silent, motionless mouth).
A row whose dub is the video's own track (training pairs, ``lipdub train``) gets the whole
track's features from the same cache as the source's, so retraining does not recompute them.
Both outputs are single npz files in the work store (read them with `lipdub.storage.local_path`);
the source's is cached under the work root's analysis/ and shared by every dub of that source
(keyed on the wav2vec2 checkpoint too, so a cache without embeddings is not reused for one with).
"""
from __future__ import annotations

import logging
from typing import Any

from lipdub.audio.features import SAMPLE_RATE, SpeechFeatures, analyze_speech
from lipdub.audio.phonemes import PhoneRecognizer
from lipdub.audio.vad import VoiceActivity
from lipdub.audio.wav2vec2_features import Wav2Vec2Embedder
from lipdub.compute_device import stage_device
from lipdub.errors import InputError
from lipdub.fingerprint import combine
from lipdub.media.audio_io import load_audio
from lipdub.storage import join_uri, local_path, uri_exists
from lipdub.store_gc import touch_last_used
from lipdub.work_store import analysis_uri, publish_file
from operators.base import Operator

log = logging.getLogger(__name__)

SOURCE_SPEECH_FILE = "source_speech.npz"
DUB_SPEECH_FILE = "dub_speech.npz"
# Below this peak speech probability the dub holds no speech to lip-sync.
MIN_SPEECH_PROBABILITY = 0.5


class ListenOperator(Operator):
    name = "listen"
    # What this stage adds to a row; a row that has them was listened to already (by the analyze
    # stage running this one alongside, pipelines/overlap.py) and passes through.
    output_columns = ("dub_speech_uri", "source_speech_uri")

    def setup(self) -> None:
        # Models load on first use, not here: after a fresh analysis (listen ran alongside it)
        # this stage only passes the row through, and loading them would put about 2 s of
        # CPU on the critical path between analysis and motion.
        self._models: tuple[VoiceActivity, PhoneRecognizer, Wav2Vec2Embedder | None] | None = None

    def _loaded_models(self) -> tuple[VoiceActivity, PhoneRecognizer, Wav2Vec2Embedder | None]:
        if self._models is None:
            checkpoint = self.config.listen.wav2vec2_checkpoint
            embedder = Wav2Vec2Embedder(checkpoint, device=stage_device(self.config, "listen")) if checkpoint else None
            self._models = (VoiceActivity(), PhoneRecognizer(), embedder)
        return self._models

    def _speech(self, samples, transcript: str | None = None) -> SpeechFeatures:
        vad, recognizer, embedder = self._loaded_models()
        return analyze_speech(samples, vad, recognizer, transcript=transcript, embedder=embedder)

    def process(self, row: dict[str, Any]) -> dict[str, Any]:
        if row.get("dub_speech_uri"):
            return row
        if row["audio_uri"] == row["video_uri"] and not row.get("transcript"):
            # The video's own track as the "dub" (training pairs): cached like the source's.
            row["dub_speech_uri"] = self._cached_speech(row, limit_s=None)
            if row["dub_speech_uri"] is None:
                raise InputError(f"{row['video_uri']} has no audio track")
        else:
            with local_path(row["audio_uri"]) as audio_path:
                samples = load_audio(audio_path, sample_rate=SAMPLE_RATE)
            dub = self._checked_speech(samples, row["audio_uri"], row.get("transcript"))
            dub_uri = join_uri(row["work_dir"], DUB_SPEECH_FILE)
            with publish_file(dub_uri) as staging:
                dub.to_npz(staging)
            row["dub_speech_uri"] = dub_uri
        row["source_speech_uri"] = self._cached_speech(row, limit_s=self.config.listen.calibration_seconds)
        return row

    def _checked_speech(self, samples, audio_uri: str, transcript: str | None = None) -> SpeechFeatures:
        """Speech features of a dub; InputError when there is nothing to lip-sync."""
        if len(samples) == 0 or float(abs(samples).max()) < 1e-4:
            raise InputError(f"the dub {audio_uri} is silent")
        speech = self._speech(samples, transcript)
        if float(speech.speech_prob.max(initial=0.0)) < MIN_SPEECH_PROBABILITY:
            raise InputError(f"no speech found in the dub {audio_uri}")
        return speech

    def _cached_speech(self, row: dict[str, Any], limit_s: float | None) -> str | None:
        """The source video's own speech features (its first ``limit_s`` seconds, or all of it when
        it is the dub), computed once per source; None when the video has no audio track."""
        checkpoint = self.config.listen.wav2vec2_checkpoint
        # Without a checkpoint the source key is what it always was: existing caches stay valid.
        extent = (limit_s,) if limit_s is not None else ("whole track",)
        key_parts = (row["source_fingerprint"], "speech", *extent) + ((checkpoint,) if checkpoint else ())
        directory = analysis_uri(self.config.work_root, combine(*key_parts))
        uri = join_uri(directory, SOURCE_SPEECH_FILE)
        if uri_exists(uri):
            touch_last_used(directory)  # `lipdub gc` keeps what was reused within its window
            return uri
        with local_path(row["video_uri"]) as video_path:
            try:
                samples = load_audio(video_path, sample_rate=SAMPLE_RATE)
            except InputError:
                return None  # no audio track: the motion model falls back to generic rules
        if limit_s is None:
            speech = self._checked_speech(samples, row["video_uri"])
        else:
            speech = self._speech(samples[: int(limit_s * SAMPLE_RATE)])
        with publish_file(uri) as staging:  # appears whole or not at all: reruns trust what exists
            speech.to_npz(staging)
        return uri
