"""A small formant speech synthesizer with known phone timings, for tests and the demo.

Why: tests need speech-like audio whose phones and pauses are known exactly (to check voice
activity, phone recognition and mouth motion) without shipping recordings. A Klatt-style
source-filter model is enough: a jittered glottal pulse train through a cascade of time-varying
formant resonators for vowels, nasals and approximants; closures, bursts and aspiration for
stops; band-passed noise for fricatives; silence for pauses. Deterministic for a given seed.

Input is a string of syllables written with simple letters, e.g. ``"ba di gu, sa mo | fe"``:
spaces separate syllables, ``,`` is a short pause and ``|`` or ``.`` a long one. Letters map to
ARPAbet phones (a->AA, e->EH, i->IY, o->OW, u->UW, sh->SH, ...).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import signal

from lipdub.audio.phonemes import PhoneSegment
from lipdub.errors import InputError

log = logging.getLogger(__name__)

__all__ = ["SynthSpeech", "synthesize_speech", "random_syllables", "LETTER_PHONES"]

# Letter (or digraph) -> ARPAbet phone.
LETTER_PHONES: dict[str, str] = {
    "sh": "SH", "ch": "CH", "th": "TH",
    "a": "AA", "e": "EH", "i": "IY", "o": "OW", "u": "UW",
    "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "g": "G",
    "m": "M", "n": "N", "f": "F", "v": "V", "s": "S", "z": "Z",
    "l": "L", "r": "R", "w": "W", "y": "Y", "h": "HH",
}
VOWEL_FORMANTS: dict[str, tuple[float, float, float]] = {
    "AA": (730, 1090, 2440), "EH": (530, 1840, 2480), "IY": (280, 2250, 2900),
    "OW": (480, 880, 2400), "UW": (310, 870, 2240), "AE": (660, 1720, 2410),
    "AH": (640, 1190, 2390), "IH": (390, 1990, 2550),
}
# Formant loci of consonants (where transitions point) and their nature.
CONSONANT_FORMANTS: dict[str, tuple[float, float, float]] = {
    "P": (250, 900, 2200), "B": (250, 900, 2200), "M": (280, 1000, 2200), "F": (300, 1100, 2300),
    "V": (300, 1100, 2300), "W": (300, 700, 2200), "T": (300, 1700, 2600), "D": (300, 1700, 2600),
    "N": (280, 1700, 2600), "S": (300, 1800, 2700), "Z": (300, 1800, 2700), "L": (350, 1100, 2700),
    "TH": (300, 1400, 2600), "K": (300, 2000, 2400), "G": (300, 2000, 2400), "SH": (300, 2000, 2600),
    "CH": (300, 2000, 2600), "R": (350, 1100, 1500), "Y": (280, 2200, 2900), "HH": (500, 1500, 2500),
}
STOPS = {"P", "B", "T", "D", "K", "G", "CH"}
VOICED_STOPS = {"B", "D", "G"}
FRICATIVES = {"F", "V", "S", "Z", "SH", "TH", "HH"}
VOICED_FRICATIVES = {"V", "Z"}
NASALS = {"M", "N"}
APPROXIMANTS = {"L", "R", "W", "Y"}
# Frication noise band (Hz) per fricative / burst place.
NOISE_BANDS: dict[str, tuple[float, float]] = {
    "S": (4000, 7800), "Z": (4000, 7800), "SH": (1800, 5000), "CH": (1800, 5000),
    "F": (1000, 7800), "V": (1000, 7800), "TH": (1200, 7800), "HH": (400, 4000),
    "P": (300, 2500), "B": (300, 2500), "T": (2500, 7000), "D": (2500, 7000),
    "K": (1200, 3500), "G": (1200, 3500),
}
SHORT_PAUSE_S = 0.30
LONG_PAUSE_S = 0.60
EDGE_SILENCE_S = 0.40
BLOCK = 80  # samples per control step (5 ms at 16 kHz)


@dataclass
class SynthSpeech:
    """Synthesized audio (float32 mono) and the phones it contains, with exact times."""

    samples: np.ndarray
    phones: list[PhoneSegment]
    sample_rate: int = 16000

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    def speech_spans(self) -> list[tuple[float, float]]:
        """(start_s, end_s) of each run of phones without a pause between them."""
        spans: list[tuple[float, float]] = []
        for p in self.phones:
            if spans and p.start_s - spans[-1][1] < 1e-6:
                spans[-1] = (spans[-1][0], p.end_s)
            else:
                spans.append((p.start_s, p.end_s))
        return spans


def _tokenize(syllable: str) -> list[str]:
    phones: list[str] = []
    i = 0
    while i < len(syllable):
        pair = syllable[i : i + 2]
        if pair in LETTER_PHONES and len(pair) == 2:
            phones.append(LETTER_PHONES[pair])
            i += 2
        elif syllable[i] in LETTER_PHONES:
            phones.append(LETTER_PHONES[syllable[i]])
            i += 1
        else:
            raise InputError(f"cannot synthesize letter {syllable[i]!r} in syllable {syllable!r}")
    return phones


def _parse(text: str) -> list[str | float]:
    """Syllable text -> sequence of phone names and pause lengths (seconds)."""
    items: list[str | float] = []
    for token in text.lower().replace(",", " , ").replace("|", " | ").replace(".", " | ").split():
        if token in {",", "|"}:
            pause = SHORT_PAUSE_S if token == "," else LONG_PAUSE_S
            if items and isinstance(items[-1], float):
                items[-1] = max(items[-1], pause)
            elif items:
                items.append(pause)
            continue
        items.extend(_tokenize(token))
    while items and isinstance(items[-1], float):
        items.pop()
    if not any(isinstance(i, str) for i in items):
        raise InputError("nothing to synthesize: the syllable text has no phones")
    return items


def random_syllables(seed: int = 0, duration_s: float = 4.0) -> str:
    """A random phrase structure of CV/CVC syllables lasting roughly ``duration_s``."""
    rng = np.random.default_rng(seed)
    consonants = ["b", "d", "g", "p", "t", "k", "m", "n", "s", "f", "sh", "l", "w", "r", "v", "z"]
    vowels = ["a", "e", "i", "o", "u"]
    words: list[str] = []
    elapsed = 2 * EDGE_SILENCE_S
    while elapsed < duration_s - 0.5:
        n_syll = int(rng.integers(3, 8))
        for _ in range(n_syll):
            syl = str(rng.choice(consonants)) + str(rng.choice(vowels))
            if rng.random() < 0.25:
                syl += str(rng.choice(["n", "m", "s", "t", "l"]))
            words.append(syl)
            elapsed += 0.27
        words.append("," if rng.random() < 0.6 else "|")
        elapsed += SHORT_PAUSE_S if words[-1] == "," else LONG_PAUSE_S
    return " ".join(words[:-1]) if words else "ba"


def _durations(items: list[str | float], rng: np.random.Generator) -> list[tuple[str | None, float]]:
    """(phone or None for a pause, duration in s) with a little random variation."""
    out: list[tuple[str | None, float]] = []
    for item in items:
        if isinstance(item, float):
            out.append((None, item))
            continue
        if item in VOWEL_FORMANTS:
            base = 0.15
        elif item in STOPS:
            base = 0.09
        elif item in FRICATIVES:
            base = 0.10
        elif item in NASALS:
            base = 0.07
        else:
            base = 0.06
        out.append((item, base * float(rng.uniform(0.85, 1.2))))
    return out


def _glottal_source(n: int, f0: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Rosenberg-like glottal flow derivative pulses with jitter and shimmer."""
    source = np.zeros(n)
    t = 0.0
    pulse_len_cache: dict[int, np.ndarray] = {}
    while True:
        idx = int(t)
        if idx >= n:
            break
        period = sr / (f0[idx] * (1.0 + 0.01 * rng.standard_normal()))
        length = max(int(period), 8)
        if length not in pulse_len_cache:
            open_n = int(0.6 * length)
            rise = 0.5 * (1 - np.cos(np.pi * np.arange(open_n) / max(open_n, 1)))
            fall_n = max(int(0.15 * length), 2)
            fall = np.cos(0.5 * np.pi * np.arange(fall_n) / fall_n)
            flow = np.concatenate([rise, fall, np.zeros(max(length - open_n - fall_n, 0))])[:length]
            pulse_len_cache[length] = np.diff(flow, prepend=0.0)
        pulse = pulse_len_cache[length] * (1.0 + 0.05 * rng.standard_normal())
        end = min(idx + length, n)
        source[idx:end] += pulse[: end - idx]
        t += period
    return source


def _resonate(x: np.ndarray, freqs: np.ndarray, bws: np.ndarray, sr: int) -> np.ndarray:
    """One time-varying 2-pole resonator (unity gain at DC), coefficients per 5 ms block."""
    out = np.empty_like(x)
    zi = np.zeros(2)
    for b in range(len(freqs)):
        start, end = b * BLOCK, min((b + 1) * BLOCK, len(x))
        if start >= end:
            break
        r = np.exp(-np.pi * bws[b] / sr)
        a1, a2 = -2.0 * r * np.cos(2.0 * np.pi * freqs[b] / sr), r * r
        out[start:end], zi = signal.lfilter([1.0 + a1 + a2], [1.0, a1, a2], x[start:end], zi=zi)
    return out


def synthesize_speech(syllables: str | None, seed: int = 0, sample_rate: int = 16000) -> SynthSpeech:
    """Synthesize ``syllables`` (or a random utterance when None) with known phone timings."""
    rng = np.random.default_rng(seed)
    text = syllables if syllables is not None else random_syllables(seed)
    timed = _durations(_parse(text), rng)
    sr = sample_rate
    total = EDGE_SILENCE_S * 2 + sum(d for _, d in timed)
    n = int(round(total * sr))
    n_blocks = n // BLOCK + 1
    block_t = (np.arange(n_blocks) + 0.5) * BLOCK / sr

    # Control tracks at the block rate: targets per phone, then smoothed into transitions.
    formants = np.tile(np.array(VOWEL_FORMANTS["AH"], dtype=float), (n_blocks, 1))
    voicing = np.zeros(n_blocks)
    aspiration = np.zeros(n_blocks)
    phones: list[PhoneSegment] = []
    noise_events: list[tuple[str, float, float, float]] = []  # band key, start, end, amplitude
    t = EDGE_SILENCE_S
    last_target = np.array(VOWEL_FORMANTS["AH"], dtype=float)
    for phone, dur in timed:
        start, end = t, t + dur
        t = end
        sel = (block_t >= start) & (block_t < end)
        if phone is None:
            formants[sel] = last_target
            continue
        phones.append(PhoneSegment(phone, round(start, 6), round(end, 6)))
        target = np.array(VOWEL_FORMANTS.get(phone, CONSONANT_FORMANTS.get(phone, (500, 1500, 2500))), dtype=float)
        formants[sel] = target
        last_target = target
        if phone in VOWEL_FORMANTS:
            voicing[sel] = 1.0
        elif phone in NASALS:
            voicing[sel] = 0.35
        elif phone in APPROXIMANTS:
            voicing[sel] = 0.6
        elif phone in VOICED_FRICATIVES:
            voicing[sel] = 0.25
            noise_events.append((phone, start, end, 0.05))
        elif phone in FRICATIVES:
            noise_events.append((phone, start, end, 0.03 if phone in {"F", "TH", "HH"} else 0.06))
            if phone == "HH":
                aspiration[sel] = 0.3
        elif phone in STOPS:
            closure_end = start + 0.6 * dur
            if phone in VOICED_STOPS:
                voicing[sel & (block_t < closure_end)] = 0.08  # voice bar
            noise_events.append((phone, closure_end, closure_end + 0.015, 0.12))
            if phone not in VOICED_STOPS:
                aspiration[(block_t >= closure_end + 0.015) & (block_t < end)] = 0.25
    # Smooth control tracks: 25 ms formant transitions, 10 ms amplitude ramps.
    formants = signal.filtfilt(np.ones(3) / 3, [1.0], formants, axis=0, padlen=0) if n_blocks > 3 else formants
    kernel = np.hanning(5)[1:-1]
    kernel /= kernel.sum()
    voicing = np.convolve(voicing, kernel, mode="same")
    aspiration = np.convolve(aspiration, kernel, mode="same")

    # Voiced source with declining pitch per phrase, plus aspiration noise, through the formants.
    f0_blocks = 125.0 - 20.0 * (block_t / max(total, 1e-3)) + 6.0 * np.sin(2 * np.pi * 0.7 * block_t + seed)
    f0 = np.repeat(f0_blocks, BLOCK)[:n]
    glottal = _glottal_source(n, f0, rng, sr) * np.repeat(voicing, BLOCK)[:n]
    glottal *= 1.0 + 0.05 * rng.standard_normal(n)  # breathiness
    noise = rng.standard_normal(n)
    excitation = glottal * 8.0 + 0.02 * noise * np.repeat(aspiration, BLOCK)[:n]
    bandwidths = np.array([80.0, 110.0, 170.0])
    voiced = excitation
    for k in range(3):
        voiced = _resonate(voiced, formants[:, k], np.full(n_blocks, bandwidths[k]), sr)
    voiced = _resonate(voiced, np.full(n_blocks, 3500.0), np.full(n_blocks, 250.0), sr)
    out = voiced

    # Frication and bursts: band-passed noise with short ramps.
    for key, start, end, amp in noise_events:
        s0, s1 = int(start * sr), min(int(end * sr), n)
        if s1 - s0 < 8:
            continue
        low, high = NOISE_BANDS[key]
        sos = signal.butter(4, [low, min(high, 0.49 * sr)], btype="bandpass", fs=sr, output="sos")
        burst = signal.sosfilt(sos, noise[s0:s1] if key not in STOPS else rng.standard_normal(s1 - s0))
        ramp = min(80, (s1 - s0) // 2)
        env = np.ones(s1 - s0)
        env[:ramp] = np.linspace(0, 1, ramp)
        env[-ramp:] = np.linspace(1, 0, ramp)
        out[s0:s1] += amp * burst * env / max(np.std(burst), 1e-9) * 0.3

    out = signal.lfilter([1.0, -0.9], [1.0], out)  # lip radiation: lift the highs
    out += 1e-4 * rng.standard_normal(n)  # faint room noise, so silence is not digital zero
    peak = float(np.max(np.abs(out)))
    samples = (0.5 * out / max(peak, 1e-9)).astype(np.float32)
    log.debug("synthesized %.2f s with %d phones", n / sr, len(phones))
    return SynthSpeech(samples=samples, phones=phones, sample_rate=sr)
