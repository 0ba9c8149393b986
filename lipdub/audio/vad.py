"""Voice activity at 100 Hz with silero-vad, loaded from the installed package (no download).

Why silero: its speech probability separates speech from breaths, music beds and room noise far
better than an energy threshold, and silence must give a resting mouth rather than mumbling.

The model scores 512-sample chunks (32 ms at 16 kHz) in order, carrying an LSTM state; the chunk
probabilities are interpolated onto the 100 Hz feature grid (frame k at k/100 s, the centres of
``features.log_mel`` frames).
"""
from __future__ import annotations

import importlib.util
import logging
import os
import warnings

import numpy as np

from lipdub.errors import InputError

log = logging.getLogger(__name__)

__all__ = ["VoiceActivity"]

SAMPLE_RATE = 16000
HOP = 160
CHUNK = 512


def _silero_jit_path() -> str:
    """The TorchScript model inside the silero_vad wheel, found without importing the package.

    Importing ``silero_vad`` calls ``torch.set_num_threads(1)`` for the whole process, which
    would slow every other torch user in the same worker.
    """
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("silero-vad is not installed (pip install silero-vad)")
    path = os.path.join(spec.submodule_search_locations[0], "data", "silero_vad.jit")
    if not os.path.exists(path):
        raise RuntimeError(f"silero-vad model file missing: {path}")
    return path


class VoiceActivity:
    """Speech probability per 10 ms frame; the model is loaded once per object (one per actor).

    Long audio is cut into ``piece_s`` pieces scored side by side as one batch (the model is a
    small recurrent net whose cost is per call, not per sample); each piece is preceded by
    ``preroll_s`` of the audio before it so its recurrent state has settled when scoring starts.
    """

    def __init__(self, *, piece_s: float = 8.0, preroll_s: float = 1.5) -> None:
        import torch  # noqa: PLC0415

        self._torch = torch
        with warnings.catch_warnings():
            # torch 2.13 deprecates TorchScript loading; silero ships TorchScript, and it works.
            warnings.simplefilter("ignore", DeprecationWarning)
            self._model = torch.jit.load(_silero_jit_path(), map_location="cpu")
        self._model.eval()
        self._piece = max(1, int(round(piece_s * SAMPLE_RATE / CHUNK)))
        self._preroll = max(0, int(round(preroll_s * SAMPLE_RATE / CHUNK)))

    def speech_probability(self, samples: np.ndarray) -> np.ndarray:
        """(T,) float32 in [0, 1] with T = 1 + len(samples) // 160, the log-mel frame count."""
        audio = np.asarray(samples, dtype=np.float32)
        if audio.ndim != 1:
            raise InputError(f"expected mono audio samples, got shape {audio.shape}")
        n_frames = 1 + len(audio) // HOP
        if len(audio) == 0:
            return np.zeros(n_frames, np.float32)
        probs = self._chunk_probabilities(np.clip(np.nan_to_num(audio), -1.0, 1.0))
        centres = (np.arange(len(probs)) * CHUNK + CHUNK / 2) / SAMPLE_RATE
        times = np.arange(n_frames) / (SAMPLE_RATE / HOP)
        return np.interp(times, centres, probs).astype(np.float32)

    def _chunk_probabilities(self, audio: np.ndarray) -> np.ndarray:
        """One probability per 512-sample chunk (the last one zero-padded)."""
        n_chunks = -(-len(audio) // CHUNK)
        padded = np.zeros(n_chunks * CHUNK, np.float32)
        padded[: len(audio)] = audio
        chunks = padded.reshape(n_chunks, CHUNK)
        if n_chunks <= self._piece:
            batch, preroll = chunks[None], 0
        else:
            batch, preroll = self._pieces(chunks), self._preroll
        torch = self._torch
        threads = torch.get_num_threads()
        # One thread: the per-chunk ops are tiny and extra threads only spin; the profiling JIT
        # executor spends seconds re-optimising this loop, plain execution does not.
        torch.set_num_threads(1)
        try:
            with torch.jit.optimized_execution(False), torch.inference_mode():
                self._model.reset_states()
                steps = torch.from_numpy(batch)
                out = [self._model(steps[:, j], SAMPLE_RATE) for j in range(batch.shape[1])]
        finally:
            torch.set_num_threads(threads)
        probs = torch.cat(out, dim=1).numpy()[:, preroll:]
        return probs.reshape(-1)[:n_chunks].astype(np.float64)

    def _pieces(self, chunks: np.ndarray) -> np.ndarray:
        """(pieces, preroll + piece, CHUNK): consecutive pieces, each with the audio before it."""
        n_chunks = len(chunks)
        n_pieces = -(-n_chunks // self._piece)
        width = self._preroll + self._piece
        batch = np.zeros((n_pieces, width, CHUNK), np.float32)
        for b in range(n_pieces):
            idx = np.arange(b * self._piece - self._preroll, b * self._piece + self._piece)
            ok = (idx >= 0) & (idx < n_chunks)
            batch[b, np.flatnonzero(ok)] = chunks[idx[ok]]
        return batch
