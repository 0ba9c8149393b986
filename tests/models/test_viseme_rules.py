from __future__ import annotations

import numpy as np

from lipdub.audio.features import SpeechFeatures
from models.viseme_rules import VISEMES, VisemeRulesModel, relative_loudness, speech_gate

FPS = 25.0


def _frames_of(segment, fps: float = FPS) -> slice:
    return slice(int(np.ceil(segment.start_s * fps)), int(np.floor(segment.end_s * fps)))


def test_every_arpabet_phone_has_a_viseme() -> None:
    arpabet = "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH"
    assert set(arpabet.split()) <= set(VISEMES)


def test_closed_in_silence_open_on_vowels(phrase) -> None:
    speech, features = phrase
    model = VisemeRulesModel()
    n = int(speech.duration_s * FPS)
    out = model.predict(features, n, FPS)
    assert out.shape == (n, 2) and out.dtype == np.float32
    rest_open, rest_width = model.speaker.rest_opening, model.speaker.rest_width
    spans = speech.speech_spans()
    lead_in = out[: int((spans[0][0] - 0.1) * FPS)]
    assert np.allclose(lead_in[:, 0], rest_open, atol=1e-3)
    assert np.allclose(lead_in[:, 1], rest_width, atol=1e-3)
    long_pause = out[int((spans[1][1] + 0.2) * FPS) : int((spans[2][0] - 0.15) * FPS)]
    assert np.allclose(long_pause[:, 0], rest_open, atol=0.1 * model.speaker.open_span)
    open_vowels = [p for p in speech.phones if p.phone == "AA"]
    assert min(out[_frames_of(p), 0].max() for p in open_vowels) > rest_open + 0.3 * model.speaker.open_span


def test_bilabials_close_and_rounding_narrows(phrase) -> None:
    speech, features = phrase
    track = VisemeRulesModel().relative_track(features)  # 100 Hz
    at = lambda p: track[int((p.start_s + p.end_s) / 2 * 100)]  # noqa: E731
    phones = speech.phones
    for i, p in enumerate(phones):
        if p.phone in {"M", "P", "B"} and i + 1 < len(phones) and phones[i + 1].phone == "AA":
            assert at(p)[0] < 0.5 * at(phones[i + 1])[0]
    uw = next(p for p in phones if p.phone == "UW")
    iy = next(p for p in phones if p.phone == "IY")
    assert at(uw)[1] < 0 < at(iy)[1]


def test_rest_after_the_audio_ends(phrase) -> None:
    speech, features = phrase
    model = VisemeRulesModel()
    n = int((speech.duration_s + 2.0) * FPS)
    out = model.predict(features, n, FPS)
    assert np.allclose(out[-int(FPS):, 0], model.speaker.rest_opening)


def test_silence_only_track_rests() -> None:
    n = 200
    silent = SpeechFeatures(
        mel=np.full((n, 80), -20.0, np.float32), loudness_db=np.full(n, -90.0, np.float32),
        speech_prob=np.zeros(n, np.float32), phones=[], duration_s=2.0,
    )
    out = VisemeRulesModel().relative_track(silent)
    assert np.allclose(out, 0.0)
    assert speech_gate(silent).max() == 0.0
    assert relative_loudness(silent).shape == (n,)
