"""Where a motion checkpoint URI points: ``builtin:<name>`` names a file shipped in the
``models`` package's ``checkpoints/`` folder, anything else is a path or fsspec URI as it is.

In the library (not in models/) because the config fingerprints the checkpoint a run uses, and
the config may not import the layer above it. The shipped folder is found through the import
system's spec of ``models`` without importing it.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from lipdub.errors import InputError

__all__ = ["BUILTIN_PREFIX", "builtin_checkpoint_dir", "resolve_checkpoint_uri"]

# "builtin:<name>": the same model on every machine, wherever the project is installed.
BUILTIN_PREFIX = "builtin:"


def builtin_checkpoint_dir() -> Path:
    """The folder of shipped checkpoints (``models/checkpoints``)."""
    spec = importlib.util.find_spec("models")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the models package is not installed: no built-in motion checkpoints")
    return Path(next(iter(spec.submodule_search_locations))) / "checkpoints"


def resolve_checkpoint_uri(uri: str) -> str:
    """A checkpoint URI with ``builtin:<name>`` turned into the shipped file's path."""
    if not uri.startswith(BUILTIN_PREFIX):
        return uri
    name = uri.removeprefix(BUILTIN_PREFIX)
    folder = builtin_checkpoint_dir()
    path = folder / f"{name}.pt"
    if "/" in name or not path.is_file():
        shipped = sorted(p.stem for p in folder.glob("*.pt"))
        raise InputError(f"no built-in motion checkpoint {name!r}; shipped: {', '.join(shipped) or 'none'}")
    return str(path)
