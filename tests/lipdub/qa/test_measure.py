import io

import cv2
import numpy as np
import pytest

from lipdub.audio.features import SAMPLE_RATE
from lipdub.config import QAConfig
from lipdub.media.audio_io import load_audio
from lipdub.qa.details import QADetails, decode_jpeg
from lipdub.qa.measure import QASubject, measure
from lipdub.qa.regions import face_regions
from lipdub.qa.standalone import qa_output

from .conftest import write_variant


def test_an_untouched_source_with_a_new_dub_is_flagged(qa_source, untouched_output):
    source, dub, _ = qa_source
    report, details = qa_output(str(untouched_output), source=str(source), dub=str(dub), sync_mode="cut_off")
    assert report["needs_review"]
    assert any("dub" in reason for reason in report["reasons"]), report["reasons"]
    assert "edited in only 0%" in " ".join(report["reasons"])
    # Nothing changed: identical picture, the same mouth. Its opening is measured by Face Mesh on
    # both sides, the source's by the analysis (its tracker's crop), the output's by QA (a crop from
    # the smoothed landmarks): the two crops differ a little, so the jitters agree within 10%.
    assert report["outside_psnr_db"] == float("inf")
    assert report["seam_score"] == 0.0 and report["flicker_ratio"] == pytest.approx(1.0)
    assert report["jitter_ratio"] == pytest.approx(1.0, abs=0.1)
    assert report["speaker_found_share"] == 1.0 and report["edited_from"] == "pixels"
    assert report["source_av_offset_frames"] == 0 and report["source_sync_corr"] > 0.8
    # Details for the report: series per output frame, three thumbnail pairs, a mouth sheet.
    assert details.n_frames == report["frames"] and len(details.thumbs_after) == 3
    buffer = io.BytesIO()
    details.to_npz(buffer)
    buffer.seek(0)
    loaded = QADetails.from_npz(buffer)
    sheet = decode_jpeg(loaded.mouth_sheet)
    assert sheet.shape[0] == 2 * 96 and sheet.shape[1] == 96 * len(loaded.mouth_sheet_frames)
    np.testing.assert_array_equal(decode_jpeg(loaded.thumbs_before[1]).shape, decode_jpeg(loaded.thumbs_after[1]).shape)


def test_a_source_whose_own_speech_runs_late_is_reported(qa_source, tmp_path):
    source, dub, faces = qa_source
    own = load_audio(str(source), sample_rate=SAMPLE_RATE)
    delay = 5 * SAMPLE_RATE // 25  # five frames at 25 fps
    late = write_variant(source, tmp_path / "late_source.mp4", faces, np.concatenate([np.zeros(delay, own.dtype), own])[: len(own)])
    report, _ = qa_output(str(late), source=str(late), dub=str(dub), sync_mode="cut_off")
    assert report["source_av_offset_frames"] == -5
    assert any("source itself is out of sync: its mouth leads its own speech by 5 frames, 200 ms" in r for r in report["reasons"])


def test_a_hard_edged_paste_is_flagged_as_a_seam(qa_source, tmp_path):
    source, dub, faces = qa_source

    def paste(frame, landmarks):
        regions = face_regions(landmarks, frame.shape[:2])
        if regions is None:
            return frame
        x0, y0, x1, y1 = regions.box
        box = frame[y0:y1, x0:x1]
        # An edge inside the blend rim, where the renderer's feathered mask edge lies, so the
        # PSNR region outside the lower face stays untouched.
        inner = cv2.erode(regions.lower_face.astype(np.uint8), np.ones((25, 25), np.uint8)) > 0
        box[inner] = np.clip(box[inner].astype(int) + 40, 0, 255).astype(np.uint8)
        return frame

    pasted = write_variant(source, tmp_path / "pasted.mp4", faces, load_audio(str(dub), sample_rate=SAMPLE_RATE), paste)
    figures, _ = measure(QASubject(str(pasted), str(source), str(dub), faces))
    assert figures["seam_score"] > QAConfig().max_seam_score
    assert figures["outside_psnr_db"] > 38
    assert figures["edited_share"] > 0.9 and figures["edited_from"] == "pixels"
