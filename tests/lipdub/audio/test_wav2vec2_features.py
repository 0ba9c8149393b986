"""wav2vec2 embeddings from a tiny random checkpoint (no downloads): loading, shapes, chunking."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lipdub.audio.features import SAMPLE_RATE, SpeechFeatures, analyze_speech, n_feature_frames
from lipdub.audio.wav2vec2_features import Wav2Vec2Embedder
from lipdub.errors import InputError
from lipdub.storage import filesystem_for
from tests.tiny_models import WAV2VEC2_DIM, save_tiny_wav2vec2

DIM = WAV2VEC2_DIM


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_tiny_wav2vec2(tmp_path_factory.mktemp("wav2vec2"))


@pytest.fixture(scope="module")
def embedder(checkpoint) -> Wav2Vec2Embedder:
    return Wav2Vec2Embedder(str(checkpoint))


@pytest.mark.parametrize("seconds", [0.0, 0.02, 0.3, 1.0, 2.345])
def test_shape_follows_the_100hz_grid(embedder, speech, seconds) -> None:
    samples = speech.samples[: int(seconds * SAMPLE_RATE)]
    out = embedder.embed(samples)
    assert out.shape == (n_feature_frames(len(samples)), DIM)
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    if len(samples) < 400:  # shorter than one model frame
        assert not out.any()
    else:
        assert out.std() > 0


def test_long_audio_runs_in_chunks(checkpoint, speech) -> None:
    repeats = int(np.ceil(45 * SAMPLE_RATE / len(speech.samples)))
    samples = np.tile(speech.samples, repeats)[: 45 * SAMPLE_RATE]
    chunked = Wav2Vec2Embedder(str(checkpoint), chunk_seconds=4.0)
    out = chunked.embed(samples)
    assert out.shape == (n_feature_frames(len(samples)), DIM) == (4501, DIM)
    assert np.isfinite(out).all()
    assert np.array_equal(out, chunked.embed(samples))  # deterministic
    # The chunks tile the model's frame grid: as many frames as one pass over the whole track.
    assert len(chunked._model_frames(samples)) == (len(samples) - 400) // 320 + 1


def test_one_chunk_is_one_model_pass(embedder, speech) -> None:
    import torch

    samples = speech.samples[: 99 * 320 + 400]  # exactly 100 model frames, no samples left over
    normalised = (samples - samples.mean()) / np.sqrt(samples.var() + 1e-7)
    with torch.inference_mode():
        expected = embedder.model(torch.from_numpy(normalised[None].astype(np.float32))).last_hidden_state[0].numpy()
    assert np.allclose(embedder._model_frames(samples), expected, atol=1e-5)


def test_embeddings_interpolate_model_frames_at_their_centres(embedder, speech) -> None:
    samples = speech.samples[:SAMPLE_RATE]
    frames = embedder._model_frames(samples)
    centres = (np.arange(len(frames)) * 320 + 199.5) / SAMPLE_RATE
    times = np.arange(n_feature_frames(len(samples))) / 100.0
    expected = np.stack([np.interp(times, centres, frames[:, j]) for j in range(DIM)], axis=1)
    assert np.allclose(embedder.embed(samples), expected, atol=1e-5)
    one_frame = embedder.embed(speech.samples[:500])  # a single model frame, held throughout
    assert np.allclose(one_frame, one_frame[0])


@pytest.mark.gpu
def test_cuda_matches_cpu(checkpoint, embedder, speech) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    on_gpu = Wav2Vec2Embedder(str(checkpoint), device="cuda")
    samples = speech.samples[: 2 * SAMPLE_RATE]
    assert np.allclose(on_gpu.embed(samples), embedder.embed(samples), atol=1e-3)


def test_loads_from_a_file_uri(checkpoint, embedder, speech) -> None:
    from_uri = Wav2Vec2Embedder(f"file://{checkpoint}")
    assert from_uri.dim == DIM
    samples = speech.samples[:SAMPLE_RATE]
    assert np.allclose(from_uri.embed(samples), embedder.embed(samples), atol=1e-6)


def test_loads_from_s3(s3_server, checkpoint, embedder, speech) -> None:
    fs = filesystem_for("s3://lipdub")
    for path in checkpoint.iterdir():
        fs.put_file(str(path), f"lipdub/models/tiny-wav2vec2/{path.name}")
    from_s3 = Wav2Vec2Embedder("s3://lipdub/models/tiny-wav2vec2/")
    samples = speech.samples[:SAMPLE_RATE]
    assert np.allclose(from_s3.embed(samples), embedder.embed(samples), atol=1e-6)


def test_missing_or_broken_checkpoint_is_an_input_error(tmp_path, checkpoint) -> None:
    missing = str(tmp_path / "nowhere")
    with pytest.raises(InputError, match="nowhere"):
        Wav2Vec2Embedder(missing)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((checkpoint / "config.json").read_text())
    with pytest.raises(InputError, match="broken"):
        Wav2Vec2Embedder(str(broken))  # config without weights
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="broken"):
        Wav2Vec2Embedder(str(broken))


def test_analyze_speech_adds_aligned_embeddings(embedder, speech, vad, recognizer) -> None:
    features = analyze_speech(speech.samples, vad, recognizer, embedder=embedder)
    assert features.embeddings is not None
    assert features.embeddings.shape == (features.n_frames, DIM) == (n_feature_frames(len(speech.samples)), DIM)
    assert analyze_speech(speech.samples, vad, recognizer).embeddings is None


def test_speech_features_npz_with_and_without_embeddings(tmp_path) -> None:
    rng = np.random.default_rng(0)
    plain = SpeechFeatures(
        mel=rng.standard_normal((30, 80)).astype(np.float32),
        loudness_db=rng.standard_normal(30).astype(np.float32),
        speech_prob=rng.random(30).astype(np.float32),
        duration_s=0.3,
    )
    plain.to_npz(tmp_path / "plain.npz")
    with np.load(tmp_path / "plain.npz") as data:
        assert "embeddings" not in data.files  # files without embeddings look as they always did
    assert SpeechFeatures.from_npz(tmp_path / "plain.npz").embeddings is None

    embedded = SpeechFeatures(plain.mel, plain.loudness_db, plain.speech_prob, [], 0.3,
                              embeddings=rng.standard_normal((30, DIM)).astype(np.float32))
    embedded.to_npz(tmp_path / "embedded.npz")
    loaded = SpeechFeatures.from_npz(tmp_path / "embedded.npz")
    assert np.array_equal(loaded.embeddings, embedded.embeddings)
    assert np.array_equal(loaded.mel, plain.mel)
