import os

import numpy as np
import pytest

from lipdub.render.atlas import build_mouth_atlas
from lipdub.render.region_spool import SPOOL_FILE, RegionSpool, region_box


def _openings(n: int) -> np.ndarray:
    return 0.1 + 0.08 * np.sin(np.arange(n) / 2.5)


def _never_read():
    raise AssertionError("the atlas decoded the source again")
    yield  # pragma: no cover - makes this a generator


def _spooled(tmp_path, frames, landmarks, frame_numbers=None, **limits) -> RegionSpool:
    spool = RegionSpool(str(tmp_path / "spool"), **limits)
    for index in frame_numbers if frame_numbers is not None else range(len(frames)):
        spool.add(index, frames[index], [(0, landmarks[index])])
    return spool


def test_atlas_from_the_spool_is_the_atlas_from_a_second_decode(tmp_path, talking_sequence):
    n = 30
    frames, landmarks = talking_sequence(_openings(n), shifts=[(3 * (t % 5), -(t % 3)) for t in range(n)])
    valid = np.ones(n, bool)
    decoded = build_mouth_atlas(iter(frames), landmarks, valid, work_dir=str(tmp_path / "decoded"))
    with _spooled(tmp_path, frames, landmarks) as spool:
        assert not spool.evicted
        spooled = build_mouth_atlas(_never_read(), landmarks, valid, work_dir=str(tmp_path / "spooled"), regions=spool)
    assert np.array_equal(spooled.source_index, decoded.source_index)
    assert np.array_equal(np.asarray(spooled.crops), np.asarray(decoded.crops))  # byte for byte
    assert not os.path.exists(tmp_path / "spool" / SPOOL_FILE)  # closing removes it


def test_a_face_at_the_frame_edge_is_served_from_its_clipped_region(tmp_path, talking_sequence):
    n = 6
    # The astronaut's face moved so its jaw leaves the frame on the left.
    frames, landmarks = talking_sequence(_openings(n), shifts=[(-190.0, 0.0)] * n)
    box = region_box(landmarks[0], (frames[0].shape[1], frames[0].shape[0]))
    assert box is not None and box[0] == 0
    decoded = build_mouth_atlas(iter(frames), landmarks, np.ones(n, bool), work_dir=str(tmp_path / "decoded"))
    with _spooled(tmp_path, frames, landmarks) as spool:
        spooled = build_mouth_atlas(_never_read(), landmarks, np.ones(n, bool), work_dir=str(tmp_path / "spooled"), regions=spool)
    assert np.array_equal(np.asarray(spooled.crops), np.asarray(decoded.crops))


def test_frames_the_spool_lacks_are_decoded_again(tmp_path, talking_sequence):
    n = 12
    frames, landmarks = talking_sequence(_openings(n))
    decoded = build_mouth_atlas(iter(frames), landmarks, np.ones(n, bool), work_dir=str(tmp_path / "decoded"))
    # A spool that saw only the even frames (as when the tracker lost the face in the others).
    with _spooled(tmp_path, frames, landmarks, frame_numbers=range(0, n, 2)) as spool:
        mixed = build_mouth_atlas(iter(frames), landmarks, np.ones(n, bool), work_dir=str(tmp_path / "mixed"), regions=spool)
    assert np.array_equal(mixed.source_index, decoded.source_index)
    assert np.array_equal(np.asarray(mixed.crops), np.asarray(decoded.crops))


def test_a_full_spool_keeps_the_frames_the_atlas_would_choose(tmp_path, talking_sequence):
    n = 200
    openings = np.full(n, 0.05)
    openings[97] = 0.3  # one rare, wide-open frame
    frames, landmarks = talking_sequence(openings)
    with _spooled(tmp_path, frames, landmarks, max_regions=64) as spool:
        kept = spool.frames()
        assert spool.evicted and 32 <= len(kept) <= 64
        assert 97 in kept
        atlas = build_mouth_atlas(_never_read(), landmarks, np.ones(n, bool), work_dir=str(tmp_path / "atlas"),
                                  max_entries=32, regions=spool)
    # The atlas chooses among what the spool kept, and needs no second decode for it.
    assert set(atlas.source_index.tolist()) <= set(kept.tolist()) and 97 in atlas.source_index
    # Kept regions come in contiguous chunks, as the atlas keeps them.
    assert np.mean(np.diff(kept) == 1) > 0.6


def test_the_spool_stays_under_its_byte_cap(tmp_path, talking_sequence):
    n = 40
    frames, landmarks = talking_sequence(_openings(n))
    one = region_box(landmarks[0], (frames[0].shape[1], frames[0].shape[0]))
    assert one is not None
    region_bytes = (one[2] - one[0]) * (one[3] - one[1]) * 3
    cap = int(10.5 * region_bytes)
    with _spooled(tmp_path, frames, landmarks, max_bytes=cap) as spool:
        assert spool.evicted
        assert os.path.getsize(spool.path) <= cap
        assert len(spool.frames()) >= 3


def test_limits_are_checked(tmp_path):
    with pytest.raises(ValueError):
        RegionSpool(str(tmp_path), max_regions=1)
