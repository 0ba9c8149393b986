"""A face detector for the demo material's own tests (does the animated face read as a face?)."""
from __future__ import annotations

import pytest

from lipdub.face.detect import FaceDetector


@pytest.fixture(scope="session")
def detector():
    with FaceDetector() as model:
        yield model
