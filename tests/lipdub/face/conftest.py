"""Shared, expensive-to-build face models and reference landmarks for the face tests."""
from __future__ import annotations

import numpy as np
import pytest

from lipdub.face.detect import FaceDetector
from lipdub.demo.face import astronaut_photo
from lipdub.face.mesh import FaceMesher


@pytest.fixture(scope="session")
def detector():
    with FaceDetector() as model:
        yield model


@pytest.fixture(scope="session")
def mesher():
    with FaceMesher() as model:
        yield model


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return astronaut_photo()


@pytest.fixture(scope="session")
def astronaut_landmarks(detector, mesher, astronaut) -> np.ndarray:
    """Face Mesh landmarks (468, 2) of the still astronaut photo."""
    boxes = detector.detect(astronaut)
    landmarks = mesher.landmarks(astronaut, boxes[0])
    assert landmarks is not None
    return landmarks
