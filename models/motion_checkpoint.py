"""Save and load learned-motion checkpoints on any fsspec URI (local path, s3://, ...).

A checkpoint is one torch file holding only tensors and plain values (loaded with
``weights_only=True``: a checkpoint from elsewhere cannot run code): the generator's config and
weights, the input feature kind, and for training checkpoints the discriminator, optimiser
states, epoch and loss history so a stopped job resumes. ``export`` keeps what inference needs.
Writes are atomic (``lipdub.storage.atomic_output``): a reader never sees half a checkpoint.
"""
from __future__ import annotations

import functools
import io
import logging
from pathlib import Path
from typing import Any

import torch

from lipdub.checkpoint_uri import BUILTIN_PREFIX, resolve_checkpoint_uri
from lipdub.errors import InputError
from lipdub.fingerprint import input_stamp
from lipdub.storage import atomic_output, open_uri, uri_exists

log = logging.getLogger(__name__)

__all__ = [
    "FORMAT", "BUILTIN_PREFIX", "resolve_checkpoint_uri", "save_checkpoint", "load_checkpoint", "checkpoint_exists",
    "inference_part", "cached_checkpoint",
]

FORMAT = "lipdub-motion/1"
# The shipped checkpoints (`builtin:<name>`, resolved by lipdub.checkpoint_uri) live here.
BUILTIN_DIR = Path(__file__).resolve().parent / "checkpoints"
# "inference": dub-time settings chosen with the checkpoint (e.g. ``learned_share``), see set_inference.
_INFERENCE_KEYS = ("format", "net_config", "features", "generator", "template_reference", "meta", "inference")


def save_checkpoint(uri: str, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save({**state, "format": FORMAT}, buffer)
    with atomic_output(uri, ".pt") as staging, open(staging, "wb") as handle:
        handle.write(buffer.getvalue())
    log.info("checkpoint written: %s (%.1f MB)", uri, buffer.tell() / 1e6)


def checkpoint_exists(uri: str) -> bool:
    return uri_exists(uri)


def load_checkpoint(uri: str) -> dict[str, Any]:
    """The checkpoint's dict; InputError (one line) when it is missing or not ours."""
    uri = resolve_checkpoint_uri(uri)
    try:
        with open_uri(uri, "rb") as handle:
            state = torch.load(io.BytesIO(handle.read()), map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise InputError(f"motion checkpoint not found: {uri}") from error
    except Exception as error:  # noqa: BLE001  (any unpickling failure means: not a checkpoint)
        raise InputError(f"not a lipdub motion checkpoint: {uri} ({type(error).__name__})") from error
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(f"not a lipdub motion checkpoint: {uri} (format {state.get('format') if isinstance(state, dict) else None!r})")
    return state


def cached_checkpoint(uri: str) -> dict[str, Any]:
    """Load once per process and file version: an actor serves many items with one checkpoint."""
    uri = resolve_checkpoint_uri(uri)
    try:
        stamp = input_stamp(uri)
    except FileNotFoundError as error:
        raise InputError(f"motion checkpoint not found: {uri}") from error
    return _load_inference_part(uri, stamp)


@functools.lru_cache(maxsize=4)
def _load_inference_part(uri: str, stamp: str) -> dict[str, Any]:
    return inference_part(load_checkpoint(uri))


def inference_part(state: dict[str, Any]) -> dict[str, Any]:
    """What dubbing needs (a few MB): no discriminator, no optimiser state."""
    return {key: state[key] for key in _INFERENCE_KEYS if key in state}


def set_inference(uri: str, **settings: float) -> dict[str, Any]:
    """Record dub-time settings in a checkpoint (``inference``: e.g. ``learned_share``, the learned
    model's share of the blend with the rules), chosen on validation people after training.
    Returns the checkpoint's inference settings as written."""
    state = load_checkpoint(uri)
    state["inference"] = {**(state.get("inference") or {}), **{k: float(v) for k, v in settings.items()}}
    save_checkpoint(uri, {k: v for k, v in state.items() if k != "format"})
    return state["inference"]
