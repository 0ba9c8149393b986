"""Own-sync check of training videos: measured offsets, keep/shift/drop, and shifted lips."""
from __future__ import annotations

import numpy as np

from models.training_sync import SyncPolicy, decide

FPS = 25.0


def _talk(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A syllable-rate loudness (dB) and a mouth opening that follows it exactly."""
    rng = np.random.default_rng(seed)
    syllables = np.convolve(rng.random(n) > 0.7, np.hanning(5), mode="same")
    loud = -60.0 + 40.0 * syllables / syllables.max() + rng.normal(0, 0.5, n)
    opening = 0.05 + 0.2 * syllables / syllables.max()
    return opening, loud


def _audio_late(opening: np.ndarray, loud: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The same talk with its sound ``frames`` later than its picture."""
    return opening[frames:], loud[:-frames]


def test_in_sync_video_is_kept():
    opening, loud = _talk()
    result = decide(opening, loud, FPS)
    assert result.action == "keep" and result.offset_frames == 0 and result.corr_at_offset > 0.8
    assert result.offset_s == 0.0


def test_audio_late_by_280_ms_is_measured_negative_and_shifted():
    opening, loud = _talk()
    late_open, late_loud = _audio_late(opening, loud, 7)
    result = decide(late_open, late_loud, FPS)
    assert result.offset_frames == -7 and abs(result.offset_ms + 280) < 1
    assert result.action == "shift" and "audio late" in result.reason
    assert abs(result.offset_s + 0.28) < 1e-9


def test_weak_sync_and_far_offsets_are_dropped():
    opening, _ = _talk(n=2000, seed=1)
    _, other_loud = _talk(n=2000, seed=2)
    weak = decide(opening, other_loud, FPS)
    assert weak.action == "drop" and "too weak" in weak.reason
    opening, loud = _talk()
    far = decide(*_audio_late(opening, loud, 9), FPS, SyncPolicy(max_offset_ms=200))
    assert far.action == "drop" and "beyond" in far.reason
    assert decide(opening, None, FPS).action == "drop"
    opening, loud = _talk(n=64)
    noisy = loud + np.random.default_rng(0).normal(0, 50, len(loud))
    short = decide(opening, noisy, FPS, SyncPolicy(min_corr=0.0))
    assert short.corr_at_offset < 3 / 8 and short.action == "drop"  # 64 frames: needs r >= 0.375


def test_check_off_keeps_everything_unshifted():
    opening, loud = _talk()
    result = decide(*_audio_late(opening, loud, 7), FPS, SyncPolicy(enabled=False))
    assert result.action == "keep" and result.offset_s == 0.0 and result.offset_frames == -7


def test_training_clip_reads_lips_at_the_offset():
    from lipdub.audio.features import SpeechFeatures
    from lipdub.face.analysis_record import FaceAnalysis
    from models.training_pairs import training_clip

    n = 100
    landmarks = np.tile(np.random.default_rng(0).normal(100, 10, (1, 468, 2)).astype(np.float32), (n, 1, 1))
    landmarks[:, :, 1] += np.arange(n, dtype=np.float32)[:, None] * 0.01 * landmarks[:, :, 1]  # frame-specific
    faces = FaceAnalysis(landmarks=landmarks, valid=np.ones(n, bool), cut_before=np.zeros(n, bool), n_tracks=1,
                         speaker_track=0, width=640, height=480, fps=FPS)
    steps = 4 * n
    speech = SpeechFeatures(mel=np.zeros((steps, 80)), loudness_db=np.zeros(steps), speech_prob=np.zeros(steps),
                            duration_s=n / FPS)
    plain = training_clip("c", faces, speech)
    shifted = training_clip("c", faces, speech, offset_s=-7 / FPS)
    assert not shifted.valid[:7].any() and shifted.valid[7:].all()
    lips_plain = plain.motion + plain.reference
    lips_shifted = shifted.motion + shifted.reference
    np.testing.assert_allclose(lips_shifted[7:], lips_plain[:-7], atol=1e-4)


def test_measured_offset_agrees_with_the_catalog_on_a_late_clip(shared_media, tmp_path):
    """liveportrait d20: the shared catalog says its audio runs 280 ms late."""
    import pytest

    from lipdub.audio.frame_loudness import loudness_per_frame
    from models.eval_motion_holdout import measure_clip

    clip = shared_media / "train" / "liveportrait_driving_d20.mp4"
    if not clip.exists():
        pytest.skip("no train/ folder in the shared media")
    measure = measure_clip(clip, tmp_path)
    loud = loudness_per_frame(str(clip), len(measure.opening), measure.fps)
    result = decide(measure.opening, loud, measure.fps)
    assert result.action == "shift"
    assert abs(result.offset_ms + 280) <= 2 * 1000 / measure.fps  # within two frames of the catalog's figure
