import io

import numpy as np
import pytest

from lipdub.face.mesh import FaceMesher
from lipdub.media.video_reader import iter_frames
from lipdub.qa.frame_qa import FrameQA, QAPart, merge_parts, picture_frames, qa_part_uri


def _measure(frames, faces, bounds, thumbs, sheet):
    parts = []
    with FaceMesher() as mesher:
        for start, stop in bounds:
            meter = FrameQA(faces, np.arange(len(frames)), start, stop, thumb_frames=thumbs, sheet_frames=sheet, mesher=mesher)
            for t in range(start, stop):
                darker = (frames[t] * 0.97).astype(np.uint8)  # a small change everywhere
                meter.add(t, darker, frames[t])
            parts.append(meter.finish())
    return parts


def test_segments_measured_apart_merge_into_the_whole(qa_source):
    source, _, faces = qa_source
    frames = list(iter_frames(str(source)))[:40]
    index = np.arange(len(frames))
    thumbs, sheet = picture_frames(index, faces.valid, None)
    (whole,) = _measure(frames, faces, [(0, 40)], thumbs, sheet)
    parts = _measure(frames, faces, [(0, 15), (15, 40)], thumbs, sheet)
    buffers = []
    for part in parts:  # through the file format, as between the render and qa stages
        buffer = io.BytesIO()
        part.to_npz(buffer)
        buffer.seek(0)
        buffers.append(QAPart.from_npz(buffer))
    merged = merge_parts(buffers[::-1])  # order does not matter
    np.testing.assert_array_equal(merged.opening, whole.opening)
    np.testing.assert_array_equal(merged.compared, whole.compared)
    for key in ("squared_error", "psnr_count", "seam_output", "seam_source", "compared"):
        assert merged.sums[key] == pytest.approx(whole.sums[key]), key
    # Flicker loses only the one frame pair across the segment boundary.
    assert merged.sums["flicker_source"] == pytest.approx(whole.sums["flicker_source"], rel=0.1)
    assert sorted(merged.thumbs) == sorted(whole.thumbs) == thumbs
    assert sorted(merged.mouth_cells) == sheet


def test_parts_that_do_not_join_are_refused():
    empty = lambda a, b: QAPart(a, b, np.zeros(b - a), np.zeros(b - a), np.zeros(b - a, bool), np.zeros(b - a, bool))  # noqa: E731
    with pytest.raises(ValueError, match="do not join"):
        merge_parts([empty(0, 10), empty(11, 20)])


def test_part_lies_beside_its_segment():
    assert qa_part_uri("s3://work/items/a/segments/00003.mp4") == "s3://work/items/a/segments/00003.qa.npz"
