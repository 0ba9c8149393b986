"""wav2vec2 embeddings of a speech track, on the same 100 Hz grid as the other speech features.

Why: log-mel says how speech sounds; a self-supervised speech model's hidden states say more
about what is being articulated, which is what drives the mouth. The model is optional: it is
loaded only when a checkpoint is given, from that checkpoint only (never the Hugging Face hub).

The checkpoint is a directory written by ``save_pretrained`` (config.json + model.safetensors)
of any ``Wav2Vec2Model`` (the facebook/wav2vec2-base architecture or a variant), at a local
path or any fsspec URI; remote directories are copied to a temp folder to load.

The model's frames (~50 Hz: 20 ms stride, 25 ms receptive field) are linearly interpolated on
their centre times onto the 100 Hz frames of `lipdub.audio.features` (frame k at k / 100 s).
Long tracks run in chunks of at most ``chunk_seconds``, so memory stays bounded; each chunk
starts on the model's frame grid, so the chunks' frames tile the track without gaps.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from lipdub.audio.features import FEATURE_RATE, SAMPLE_RATE, n_feature_frames
from lipdub.errors import InputError
from lipdub.storage import filesystem_for, is_local, join_uri, local_path, uri_exists

if TYPE_CHECKING:
    from transformers import Wav2Vec2Model

log = logging.getLogger(__name__)

__all__ = ["Wav2Vec2Embedder"]

# Wav2Vec2FeatureExtractor's normalisation epsilon (zero mean, unit variance per input).
_NORM_EPS = 1e-7
# Parameters only used for masked pre-training; a checkpoint may lack them and still be complete.
_TRAINING_ONLY_KEYS = frozenset({"masked_spec_embed"})


@contextlib.contextmanager
def _local_checkpoint(checkpoint_uri: str) -> Iterator[str]:
    """A local directory holding the checkpoint: local ones as they are, remote ones copied to
    a temp folder that is removed on exit (the loaded model no longer needs the files)."""
    if is_local(checkpoint_uri):
        with local_path(checkpoint_uri) as path:
            yield path
        return
    fs = filesystem_for(checkpoint_uri)
    root = fs._strip_protocol(checkpoint_uri).rstrip("/")
    tmpdir = tempfile.mkdtemp(prefix="lipdub-wav2vec2-")
    try:
        for remote in fs.find(root):
            local = os.path.join(tmpdir, *remote[len(root) + 1:].split("/"))
            os.makedirs(os.path.dirname(local), exist_ok=True)
            fs.get_file(remote, local)
        log.debug("copied %s to %s", checkpoint_uri, tmpdir)
        yield tmpdir
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _load_model(checkpoint_uri: str) -> Wav2Vec2Model:
    import torch  # noqa: PLC0415  (slow imports, only where the model is used)
    from safetensors import SafetensorError  # noqa: PLC0415
    from transformers import Wav2Vec2Model  # noqa: PLC0415

    # Checked first: transformers reads a missing directory as a hub repo id, a confusing error.
    if not uri_exists(join_uri(checkpoint_uri, "config.json")):
        raise InputError(f"no wav2vec2 checkpoint at {checkpoint_uri} (expected a save_pretrained "
                         "directory with config.json and model.safetensors)")
    try:
        with _local_checkpoint(checkpoint_uri) as directory:
            model, info = Wav2Vec2Model.from_pretrained(
                directory, local_files_only=True, output_loading_info=True, dtype=torch.float32
            )
    except (OSError, ValueError, SafetensorError) as exc:
        message = " ".join(str(exc).split())
        raise InputError(f"cannot load the wav2vec2 checkpoint {checkpoint_uri}: {message}") from exc
    missing = sorted(set(info.get("missing_keys", ())) - _TRAINING_ONLY_KEYS)
    if missing:  # those weights would be random: the embeddings would be noise
        raise InputError(f"the wav2vec2 checkpoint {checkpoint_uri} lacks {len(missing)} weights "
                         f"(e.g. {', '.join(missing[:3])}); is it a Wav2Vec2Model checkpoint?")
    return model.eval()


def _receptive_field(kernels: tuple[int, ...], strides: tuple[int, ...]) -> tuple[int, int]:
    """(receptive field, stride) in samples of the model's convolutional feature encoder."""
    field, jump = 1, 1
    for kernel, stride in zip(kernels, strides):
        field += (kernel - 1) * jump
        jump *= stride
    return field, jump


class Wav2Vec2Embedder:
    """(T, D) wav2vec2 last-hidden-state embeddings of 16 kHz mono audio at 100 Hz."""

    def __init__(self, checkpoint_uri: str, *, chunk_seconds: float = 20.0, device: str = "cpu") -> None:
        if chunk_seconds <= 0:
            raise ValueError(f"chunk_seconds must be positive, got {chunk_seconds}")
        self.checkpoint_uri = checkpoint_uri
        self.device = device
        self.model = _load_model(checkpoint_uri).to(device)
        config = self.model.config
        self.receptive_field, self.stride = _receptive_field(tuple(config.conv_kernel), tuple(config.conv_stride))
        # Model frames per chunk whose samples fit in chunk_seconds (at least one frame).
        chunk_samples = int(chunk_seconds * SAMPLE_RATE)
        self.chunk_frames = max(1, (chunk_samples - self.receptive_field) // self.stride + 1)
        log.info("wav2vec2 embeddings from %s (dim %d) on %s", checkpoint_uri, self.dim, device)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def embed(self, samples: np.ndarray) -> np.ndarray:
        """16 kHz mono float samples -> (1 + len // 160, dim) float32, frame k at k / 100 s.

        Audio shorter than the model's receptive field (25 ms) has no model frame: zeros.
        """
        audio = np.nan_to_num(np.asarray(samples, dtype=np.float32))
        if audio.ndim != 1:
            raise InputError(f"expected mono audio samples, got shape {audio.shape}")
        n_out = n_feature_frames(len(audio))
        if len(audio) < self.receptive_field:
            return np.zeros((n_out, self.dim), np.float32)
        return self._on_feature_grid(self._model_frames(audio), n_out)

    def _on_feature_grid(self, hidden: np.ndarray, n_out: int) -> np.ndarray:
        """Linear interpolation of model frames (N, D) onto 100 Hz frame times, holding the edge
        frames beyond the first and last centre. Frames are evenly spaced, so each output row is
        a weighted sum of two rows, computed in float32 in place (10 minutes at D = 768 is
        already 180 MB)."""
        offset_s = (self.receptive_field - 1) / 2 / SAMPLE_RATE  # centre of model frame 0
        position = (np.arange(n_out) / FEATURE_RATE - offset_s) * SAMPLE_RATE / self.stride
        position = np.clip(position, 0.0, len(hidden) - 1)
        left = np.minimum(position.astype(np.int64), max(len(hidden) - 2, 0))
        right = np.minimum(left + 1, len(hidden) - 1)
        weight = (position - left).astype(np.float32)[:, None]
        out = hidden[left].astype(np.float32)
        out *= 1.0 - weight
        out += hidden[right] * weight
        return out

    def _model_frames(self, audio: np.ndarray) -> np.ndarray:
        """(N, dim) model frames; frame j sees samples [j * stride, j * stride + receptive field)."""
        import torch  # noqa: PLC0415

        n_frames = (len(audio) - self.receptive_field) // self.stride + 1
        # Equal chunks (none longer than chunk_frames) rather than full ones and a short tail,
        # so no chunk runs with too little context.
        n_chunks = math.ceil(n_frames / self.chunk_frames)
        per_chunk = math.ceil(n_frames / n_chunks)
        parts: list[np.ndarray] = []
        with torch.inference_mode():
            for first in range(0, n_frames, per_chunk):
                count = min(per_chunk, n_frames - first)
                start = first * self.stride
                chunk = audio[start:start + (count - 1) * self.stride + self.receptive_field]
                chunk = ((chunk - chunk.mean()) / np.sqrt(chunk.var() + _NORM_EPS)).astype(np.float32)
                inputs = torch.from_numpy(chunk[None, :]).to(self.device)
                hidden = self.model(inputs).last_hidden_state[0].float().cpu().numpy()
                parts.append(hidden[:count])
        return np.concatenate(parts, axis=0)
