"""move: the dub's speech -> a target mouth shape for every output frame, and the atlas plan.

Input columns: analysis_uri, atlas_uri, source_speech_uri, dub_speech_uri, n_source_frames,
n_output_frames, resolved_sync_mode, dub_seconds, fps_num, fps_den, work_dir.
Output columns: plan_uri (npz: source_index, targets [opening, width], chosen atlas entries).
Fan-out: 1 -> 1. The motion model is calibrated on this speaker's own audio and mouth first
(the learned model, when a checkpoint is configured, also adapts to the speaker's lips).
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from lipdub.audio.features import SpeechFeatures
from lipdub.compute_device import stage_device
from lipdub.face.analysis_record import FaceAnalysis
from lipdub.render.atlas import MouthAtlas
from lipdub.render.plan import plan_render
from lipdub.storage import join_uri, local_path
from lipdub.timeline import plan_timeline
from lipdub.work_store import fetch_member, publish_file
from models.motion import MotionModel
from models.registry import build_motion_model
from operators.base import Operator

log = logging.getLogger(__name__)

PLAN_FILE = "plan.npz"


def read_speech(uri: str) -> SpeechFeatures:
    with local_path(uri) as path:
        return SpeechFeatures.from_npz(path)


def measured_mouth(faces: FaceAnalysis) -> np.ndarray:
    """[opening, width] per source frame; NaN where the speaker's face was not found."""
    return faces.mouth_measurements(missing=np.nan)


class MoveOperator(Operator):
    name = "move"

    def setup(self) -> None:
        self.model_spec = self.config.motion_model

    def process(self, row: dict[str, Any]) -> dict[str, Any]:
        fps = row["fps_num"] / row["fps_den"]
        faces = FaceAnalysis.from_npz(str(fetch_member(row["analysis_uri"])))
        timeline = plan_timeline(int(row["n_source_frames"]), fps, float(row["dub_seconds"]), row["resolved_sync_mode"])
        dub = read_speech(row["dub_speech_uri"])
        spec = f"oracle:{row['motion_targets_uri']}" if row.get("motion_targets_uri") else self.model_spec
        model: MotionModel = build_motion_model(spec, row.get("motion_checkpoint") or self.config.motion_checkpoint,
                                                device=stage_device(self.config, "move"))
        if row.get("source_speech_uri"):
            model.fit_speaker(read_speech(row["source_speech_uri"]), measured_mouth(faces), fps, landmarks=faces.landmarks)
        targets = model.predict(dub, timeline.n_frames, fps).astype(np.float32)
        plan = plan_render(timeline.source_index, faces, MouthAtlas(str(fetch_member(row["atlas_uri"]))), targets)
        plan_uri = join_uri(row["work_dir"], PLAN_FILE)
        with publish_file(plan_uri) as staging:  # never a half-written plan for a rerun to trust
            plan.to_npz(staging)
        row.update(plan_uri=plan_uri, edited_frames=int(plan.edited_frames))
        return row
