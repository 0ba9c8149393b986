import numpy as np

from lipdub.qa.regions import face_regions, mouth_box


def test_regions_need_landmarks(qa_source):
    assert face_regions(np.zeros((468, 2), np.float32), (320, 320)) is None
    assert mouth_box(np.full((468, 2), np.nan, np.float32), (320, 320)) is None


def test_seam_band_is_the_rim_of_the_lower_face_without_the_lips(qa_source):
    _, _, faces = qa_source
    landmarks = faces.landmarks[int(np.flatnonzero(faces.valid)[0])]
    regions = face_regions(landmarks, (320, 320))
    x0, y0, x1, y1 = regions.box
    assert regions.lower_face.shape == (y1 - y0, x1 - x0)
    assert regions.seam_band.any() and not (regions.seam_band & ~regions.lower_face).any()
    lips_x, lips_y = landmarks[13].round().astype(int)  # upper inner lip: never on the rim
    assert regions.lower_face[lips_y - y0, lips_x - x0] and not regions.seam_band[lips_y - y0, lips_x - x0]
    bx0, by0, bx1, by1 = mouth_box(landmarks, (320, 320))
    assert bx0 < lips_x < bx1 and by0 < lips_y < by1
