"""Memory-map one array of an uncompressed ``.npz`` instead of reading it whole.

Why: a render segment needs the landmarks of its own ~200 frames, but ``np.load`` of an npz reads
(and, when compressed, inflates) every member in full. For a feature-length film that is hundreds
of MB per segment, so render time and memory would grow with the film's length. An npz written by
``np.savez`` stores each ``.npy`` member uncompressed (ZIP_STORED), so its bytes sit contiguously
in the file and can be mapped; pages are read only as frames are touched.
"""
from __future__ import annotations

import os
import struct
import zipfile

import numpy as np

_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # zip local file header, 30 bytes
_LOCAL_SIGNATURE = b"PK\x03\x04"


def memmap_npz_member(path: str | os.PathLike[str], name: str) -> np.ndarray | None:
    """Read-only memmap of member ``name`` (without ``.npy``) of the npz at ``path``.

    Returns None when the member is missing or compressed (an npz from ``np.savez_compressed``),
    so the caller falls back to ``np.load``.
    """
    path = os.fspath(path)
    with zipfile.ZipFile(path) as archive:
        try:
            info = archive.getinfo(f"{name}.npy")
        except KeyError:
            return None
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            return None
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        fields = _LOCAL_HEADER.unpack(handle.read(_LOCAL_HEADER.size))
        if fields[0] != _LOCAL_SIGNATURE:
            raise ValueError(f"{path}: no zip local header for {name}.npy")
        name_length, extra_length = fields[-2], fields[-1]
        handle.seek(info.header_offset + _LOCAL_HEADER.size + name_length + extra_length)
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(handle)
        offset = handle.tell()
    if dtype.hasobject:
        return None
    if int(np.prod(shape)) == 0:
        return np.zeros(shape, dtype)  # mmap cannot map zero bytes
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran_order else "C")
