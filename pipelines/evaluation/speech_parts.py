"""Cutting and joining analysed speech (100 Hz SpeechFeatures), for the evaluation protocols that
split a clip in halves or build a source out of several clips."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from lipdub.audio.features import FEATURE_RATE, SpeechFeatures
from lipdub.audio.phonemes import PhoneSegment

__all__ = ["slice_speech", "join_speech"]


def slice_speech(speech: SpeechFeatures, start_s: float, end_s: float) -> SpeechFeatures:
    """The part between two times, phones re-timed to its start."""
    a, b = int(round(start_s * FEATURE_RATE)), int(round(end_s * FEATURE_RATE))
    phones = [PhoneSegment(p.phone, max(p.start_s, start_s) - start_s, min(p.end_s, end_s) - start_s)
              for p in speech.phones if p.end_s > start_s and p.start_s < end_s]
    return SpeechFeatures(speech.mel[a:b], speech.loudness_db[a:b], speech.speech_prob[a:b], phones, end_s - start_s,
                          None if speech.embeddings is None else speech.embeddings[a:b])


def join_speech(parts: Sequence[SpeechFeatures]) -> SpeechFeatures:
    """Parts end to end, each taking ``duration_s`` (its rows cut or edge-padded to match, so
    later parts' phones stay aligned with their rows)."""
    mel, loud, prob, emb, phones = [], [], [], [], []
    offset = 0.0
    for part in parts:
        rows = int(round(part.duration_s * FEATURE_RATE))
        take = np.minimum(np.arange(rows), max(part.n_frames - 1, 0))
        mel.append(part.mel[take])
        loud.append(part.loudness_db[take])
        prob.append(part.speech_prob[take])
        if part.embeddings is not None:
            emb.append(part.embeddings[take])
        phones += [PhoneSegment(p.phone, p.start_s + offset, p.end_s + offset) for p in part.phones]
        offset += rows / FEATURE_RATE
    embeddings = np.concatenate(emb) if emb and len(emb) == len(parts) else None
    return SpeechFeatures(np.concatenate(mel), np.concatenate(loud), np.concatenate(prob), phones, offset, embeddings)
