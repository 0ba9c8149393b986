"""A change to what the default motion model predicts must come with a new OUTPUT_REVISION.

Why: finished items of resumed and nightly runs are kept while their output fingerprint is
unchanged, and code changes reach that fingerprint only through ``lipdub.config.OUTPUT_REVISION``.
A motion change without a bump would leave a catalog's earlier outputs standing as "up to date".
This test predicts targets with the shipped default (``builtin:lipdub-motion-v2`` blended with the
calibrated rules) and with the rules alone (``--motion-checkpoint none``) on fixed synthetic
speech, and compares them with the values stored for the current revision. It guards the motion
stage only; rendering changes still need a bump by hand.

When it fails after a deliberate change: bump OUTPUT_REVISION (lipdub/config.py), then rewrite the
stored values with ``python -m tests.models.test_output_revision``.
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np

from lipdub.audio.features import SpeechFeatures, frames_at
from lipdub.config import OUTPUT_REVISION
from models.learned_motion import LearnedMotionModel
from models.speaker_calibration import CalibratedMotionModel
from models.viseme_rules import VisemeRulesModel

GOLDEN = Path(__file__).parent / "golden" / "default_motion.json"
FPS = 25.0
# Float noise between machines (BLAS, torch kernels) is orders of magnitude below this; a change
# to the motion code that matters to a picture is above it.
TOLERANCE = 5e-4

log = logging.getLogger(__name__)


def _made_up_speaker(features: SpeechFeatures, n: int) -> np.ndarray:
    """A speaker whose mouth follows the rules track, and whose corners close in as it opens."""
    rel = frames_at(VisemeRulesModel().relative_track(features), n, FPS)
    wobble = 0.004 * np.sin(np.arange(n) / 3.0)
    opening = np.maximum(0.03 + 0.12 * rel[:, 0] + wobble, 0.0)
    width = 0.52 + 0.01 * rel[:, 1] - 0.5 * (opening - 0.03) + 0.5 * wobble
    return np.stack([opening, width], axis=1)


def predicted_targets(source: SpeechFeatures, dub: SpeechFeatures) -> dict[str, list[list[float]]]:
    n_source, n_dub = int(source.duration_s * FPS), int(dub.duration_s * FPS)
    measured = _made_up_speaker(source, n_source)
    out = {}
    for label, model in (("default", LearnedMotionModel.from_uri("builtin:lipdub-motion-v2")),
                         ("rules", CalibratedMotionModel())):
        model.fit_speaker(source, measured, FPS)
        out[label] = np.round(model.predict(dub, n_dub, FPS).astype(np.float64), 5).tolist()
    return out


def test_the_default_motion_is_the_one_stored_for_this_output_revision(source_and_dub) -> None:
    stored = json.loads(GOLDEN.read_text())
    assert stored["output_revision"] == OUTPUT_REVISION, (
        "OUTPUT_REVISION moved: rewrite the stored motion with `python -m tests.models.test_output_revision`")
    now = predicted_targets(*source_and_dub)
    for label, targets in now.items():
        difference = np.abs(np.asarray(targets) - np.asarray(stored["targets"][label])).max()
        assert difference <= TOLERANCE, (
            f"the {label} motion model's targets changed by up to {difference:.4f}: bump lipdub.config."
            "OUTPUT_REVISION (resumed runs would keep outputs made before), then rewrite the stored "
            "motion with `python -m tests.models.test_output_revision`")


def _write_golden() -> None:
    from lipdub.audio.vad import VoiceActivity
    from tests.models.conftest import source_and_dub as fixture

    source, dub = fixture.__wrapped__(VoiceActivity())
    GOLDEN.write_text(json.dumps({"output_revision": OUTPUT_REVISION, "targets": predicted_targets(source, dub)}) + "\n")
    log.info("wrote %s for %s", GOLDEN, OUTPUT_REVISION)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    _write_golden()
