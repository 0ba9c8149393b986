import pickle

import numpy as np
import pytest

from lipdub.errors import InputError
from lipdub.face import geometry
from lipdub.render.atlas import MouthAtlas, build_mouth_atlas, choose_atlas_frames, continuity_runs


def _openings(n: int) -> np.ndarray:
    return 0.1 + 0.08 * np.sin(np.arange(n) / 2.5)


def test_atlas_stores_aligned_crops_and_measurements(tmp_path, talking_sequence):
    frames, landmarks = talking_sequence(_openings(24), shifts=[(t % 3, -(t % 2)) for t in range(24)])
    valid = np.ones(24, bool)
    valid[5] = False
    atlas = build_mouth_atlas(iter(frames), landmarks, valid, work_dir=str(tmp_path / "atlas"))
    assert (tmp_path / "atlas" / "crops.npy").exists() and (tmp_path / "atlas" / "atlas.npz").exists()
    assert len(atlas) == 23 and 5 not in atlas.source_index
    assert atlas.crops.dtype == np.uint8 and atlas.crops.shape[0] == 23
    assert isinstance(atlas.crops, np.memmap)
    # Crop resolution follows the face size and never upscales it.
    iod = float(np.median(geometry.inter_ocular_distance(landmarks)))
    assert atlas.geometry.pixels_per_unit <= iod + 1e-6
    w, h = atlas.geometry.size
    assert atlas.crops.shape[1:] == (h, w, 3)
    measured = geometry.mouth_opening(landmarks[atlas.source_index])
    assert np.allclose(atlas.metrics[:, 0], measured, atol=1e-5)
    # Runs split at the invalid frame; successor stays inside a run.
    assert atlas.run_id[atlas.source_index == 4] != atlas.run_id[atlas.source_index == 6]
    entry4 = int(np.flatnonzero(atlas.source_index == 4)[0])
    entry6 = int(np.flatnonzero(atlas.source_index == 6)[0])
    assert atlas.successor(entry4) == -1 and atlas.source_index[atlas.successor(entry6)] == 7
    # The crops are the same face: the painted mouth is darker in the open entries.
    dark = (atlas.crops.astype(np.int32).sum(axis=-1) < 150).sum(axis=(1, 2))
    assert np.corrcoef(dark, atlas.metrics[:, 0])[0, 1] > 0.8


def test_atlas_reopens_from_disk_and_pickles_by_path(tmp_path, talking_sequence):
    frames, landmarks = talking_sequence(_openings(8))
    atlas = build_mouth_atlas(iter(frames), landmarks, np.ones(8, bool), work_dir=str(tmp_path))
    again = pickle.loads(pickle.dumps(atlas))
    assert len(pickle.dumps(atlas)) < 10_000  # no pixels in the pickle
    assert np.array_equal(again.crops, atlas.crops)
    assert np.array_equal(MouthAtlas(str(tmp_path)).metrics, atlas.metrics)


def test_atlas_size_is_capped_keeping_chunks_and_rare_shapes(tmp_path, talking_sequence):
    n = 120
    openings = np.full(n, 0.05)
    openings[77] = 0.3  # one rare, wide-open frame
    frames, landmarks = talking_sequence(openings)
    atlas = build_mouth_atlas(iter(frames), landmarks, np.ones(n, bool), work_dir=str(tmp_path), max_entries=30)
    assert len(atlas) <= 30
    assert 77 in atlas.source_index
    # Kept frames come in contiguous chunks (so "play the next frame" stays possible).
    assert np.mean(np.diff(atlas.source_index) == 1) > 0.7


def test_choose_atlas_frames_caps_long_videos():
    rng = np.random.default_rng(0)
    n = 20_000
    metrics = np.stack([np.abs(rng.normal(0.05, 0.05, n)), rng.normal(0.5, 0.03, n)], axis=1)
    valid = rng.random(n) > 0.05
    keep = choose_atlas_frames(metrics, continuity_runs(valid), 3000)
    assert 2000 < len(keep) <= 3000
    assert valid[keep].all()
    assert metrics[keep, 0].max() == metrics[valid, 0].max()


def test_atlas_reads_frames_only_up_to_the_last_kept_one(tmp_path, talking_sequence):
    frames, landmarks = talking_sequence(_openings(10))
    valid = np.zeros(10, bool)
    valid[:4] = True
    consumed = []

    def frames_iter():
        for index, frame in enumerate(frames):
            consumed.append(index)
            yield frame

    build_mouth_atlas(frames_iter(), landmarks, valid, work_dir=str(tmp_path))
    assert max(consumed) == 3


def test_no_valid_face_is_an_input_error(tmp_path, talking_sequence):
    frames, landmarks = talking_sequence(_openings(3))
    with pytest.raises(InputError):
        build_mouth_atlas(iter(frames), landmarks, np.zeros(3, bool), work_dir=str(tmp_path))
    with pytest.raises(InputError):
        MouthAtlas(str(tmp_path / "missing"))
