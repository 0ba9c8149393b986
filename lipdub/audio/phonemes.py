"""Phone segments from speech with pocketsphinx's shipped US-English acoustic model.

Why pocketsphinx: it ships its models inside the wheel (nothing to download), runs several times
faster than real time on one CPU core and gives time-stamped phones, which is what a mouth needs.
Allphone decoding (phone loop + phone n-gram) works as a language-independent phonetic front end:
the English phone set is coarse enough that lips in other languages still map to it. When an
English transcript is known, forced alignment against the shipped CMU dictionary is more exact.

Frames are pocketsphinx's 100 Hz frames, so times are multiples of 10 ms.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lipdub.errors import InputError

if TYPE_CHECKING:
    from pocketsphinx import Decoder

log = logging.getLogger(__name__)

__all__ = ["PhoneSegment", "PhoneRecognizer", "SILENCE", "is_silence"]

SAMPLE_RATE = 16000
FRAME_RATE = 100.0  # pocketsphinx's default -frate
SILENCE = "SIL"


@dataclass(frozen=True)
class PhoneSegment:
    """One phone (ARPAbet, upper case, no stress digits) and its time span in seconds."""

    phone: str
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def is_silence(label: str) -> bool:
    """Silence and pocketsphinx fillers (+NSN+, +SPN+, +BREATH+, <sil>...) carry no lip shape."""
    return label.upper() in {SILENCE, "<SIL>", "<S>", "</S>"} or label.startswith("+") or label.startswith("<")


def _to_pcm16(samples: np.ndarray) -> bytes:
    """float [-1, 1] -> 16-bit little-endian PCM, what pocketsphinx decodes."""
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim != 1:
        raise InputError(f"expected mono audio samples, got shape {audio.shape}")
    return (np.clip(np.nan_to_num(audio), -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def _clean_phone(label: str) -> str:
    """Drop stress digits and alternative-pronunciation markers: 'AH0' -> 'AH'."""
    return re.sub(r"[0-9()]", "", label).upper()


def _merge(segments: list[PhoneSegment]) -> list[PhoneSegment]:
    """Sorted, non-overlapping, silence-free segments (silence is the gap between phones)."""
    out: list[PhoneSegment] = []
    for seg in sorted(segments, key=lambda s: s.start_s):
        if seg.end_s <= seg.start_s or is_silence(seg.phone):
            continue
        if out and seg.start_s < out[-1].end_s:
            seg = PhoneSegment(seg.phone, out[-1].end_s, seg.end_s)
            if seg.end_s <= seg.start_s:
                continue
        out.append(seg)
    return out


def normalize_transcript(transcript: str) -> list[str]:
    """Lower-case words with letters, digits and inner apostrophes, as in the CMU dictionary."""
    words = re.findall(r"[a-z0-9]+(?:'[a-z0-9]+)*", transcript.lower())
    return words


class PhoneRecognizer:
    """Phone recognition and forced alignment; loads the pocketsphinx models once per object.

    Made for long-lived workers (Ray actors): the allphone decoder is built in ``__init__`` and the
    dictionary decoder for alignment on the first ``align`` call (the dictionary takes ~0.2 s).
    """

    def __init__(self, *, beam: float = 1e-40, phone_lm_weight: float = 6.5) -> None:
        from pocketsphinx import Decoder, get_model_path  # noqa: PLC0415  (keep module import light)

        self._decoder_cls = Decoder
        self._hmm = get_model_path("en-us/en-us")
        self._dict = get_model_path("en-us/cmudict-en-us.dict")
        self._phone_decoder = Decoder(
            hmm=self._hmm,
            allphone=get_model_path("en-us/en-us-phone.lm.bin"),
            lm=None,
            dict=None,
            samprate=SAMPLE_RATE,
            beam=beam,
            pbeam=beam,
            lw=phone_lm_weight,
            loglevel="FATAL",
        )
        self._align_decoder: Decoder | None = None

    def recognize(self, samples: np.ndarray) -> list[PhoneSegment]:
        """Allphone decoding of 16 kHz mono float audio; speech phones only, sorted by time."""
        pcm = _to_pcm16(samples)
        if not pcm:
            return []
        decoder = self._phone_decoder
        self._decode(decoder, pcm)
        segments = [
            PhoneSegment(_clean_phone(s.word), s.start_frame / FRAME_RATE, (s.end_frame + 1) / FRAME_RATE)
            for s in decoder.seg()
        ]
        phones = _merge(segments)
        log.debug("recognized %d phones in %.2f s of audio", len(phones), len(samples) / SAMPLE_RATE)
        return phones

    def align(self, samples: np.ndarray, transcript: str) -> list[PhoneSegment]:
        """Forced alignment of an English transcript; raises InputError on unknown words or failure."""
        words = normalize_transcript(transcript)
        if not words:
            raise InputError("the transcript has no words to align")
        decoder = self._get_align_decoder()
        unknown = sorted({w for w in words if decoder.lookup_word(w) is None})
        if unknown:
            shown = ", ".join(unknown[:8]) + (" ..." if len(unknown) > 8 else "")
            raise InputError(f"transcript words not in the English pronunciation dictionary: {shown}")
        pcm = _to_pcm16(samples)
        if not pcm:
            raise InputError("cannot align a transcript to empty audio")
        try:
            decoder.set_align_text(" ".join(words))
            self._decode(decoder, pcm)  # first pass: word segmentation
            decoder.set_alignment()
            self._decode(decoder, pcm)  # second pass: phone durations inside the words
            alignment = decoder.get_alignment()
        except RuntimeError as exc:
            raise InputError(f"the transcript could not be aligned to the audio ({exc})") from exc
        if alignment is None:
            raise InputError("the transcript could not be aligned to the audio")
        segments = [
            PhoneSegment(_clean_phone(p.name), p.start / FRAME_RATE, (p.start + p.duration) / FRAME_RATE)
            for p in alignment.phones()
        ]
        phones = _merge(segments)
        if not phones:
            raise InputError("the transcript could not be aligned to the audio")
        return phones

    @staticmethod
    def _decode(decoder: "Decoder", pcm: bytes) -> None:
        """One whole-utterance pass (full_utt: cepstral mean from the whole utterance)."""
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()

    def _get_align_decoder(self) -> "Decoder":
        if self._align_decoder is None:
            self._align_decoder = self._decoder_cls(
                hmm=self._hmm, dict=self._dict, lm=None, samprate=SAMPLE_RATE, loglevel="FATAL"
            )
        return self._align_decoder
