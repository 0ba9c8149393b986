"""qa: measure each finished output and decide whether a person must look at it.

Input columns: output_uri, video_uri, audio_uri, analysis_uri, plan_uri, work_dir,
n_output_frames, fps_num, fps_den.
Output columns: the qa_* figures, qa_figures (JSON of all of them), qa_uri (details for
`lipdub report`), needs_review, review_reasons (JSON list of readable reasons).
Fan-out: 1 -> 1. The figures are measured on the written file (lipdub/qa/measure.py), the verdict
comes from the thresholds in ``config.qa`` (lipdub/qa/gate.py).
"""
from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

from lipdub.face.analysis_record import FaceAnalysis
from lipdub.face.mesh import FaceMesher
from lipdub.qa.figures_json import figures_to_json
from lipdub.qa.gate import review_reasons
from lipdub.qa.measure import QASubject, measure
from lipdub.render.renderer import RenderPlan
from lipdub.storage import join_uri, local_path
from lipdub.work_store import fetch_member, publish_file
from operators.base import Operator

QA_FILE = "qa.npz"

# Figures that get a column of their own in the results manifest.
FIGURE_COLUMNS = {
    "qa_av_offset_frames": "av_offset_frames",
    "qa_sync_corr": "sync_corr",
    "qa_outside_psnr_db": "outside_psnr_db",
    "qa_seam_score": "seam_score",
    "qa_flicker_ratio": "flicker_ratio",
    "qa_jitter_ratio": "jitter_ratio",
    "qa_edited_share": "edited_share",
    "qa_source_av_offset_frames": "source_av_offset_frames",
    "qa_source_sync_corr": "source_sync_corr",
    "speaker_found_share": "speaker_found_share",
}


class QAOperator(Operator):
    name = "qa"

    def setup(self) -> None:
        self.mesher = FaceMesher()

    def process(self, row: dict[str, Any]) -> dict[str, Any]:
        faces = FaceAnalysis.from_npz(str(fetch_member(row["analysis_uri"])))
        with local_path(row["plan_uri"]) as plan_path:
            plan = RenderPlan.from_npz(plan_path)
        with local_path(row["output_uri"]) as output, local_path(row["video_uri"]) as source, \
                local_path(row["audio_uri"]) as dub:
            subject = QASubject(output, source, dub, faces, source_index=plan.source_index,
                                edited=(plan.weight > 0) & (plan.primary >= 0),
                                planned_frames=int(row["n_output_frames"]),
                                planned_fps=Fraction(int(row["fps_num"]), int(row["fps_den"])))
            figures, details = measure(subject, mesher=self.mesher)
        qa_uri = join_uri(row["work_dir"], QA_FILE)
        with publish_file(qa_uri) as staging:
            details.to_npz(staging)
        reasons = review_reasons(figures, self.config.qa)
        row.update({column: float(figures[key]) for column, key in FIGURE_COLUMNS.items()})
        row.update(qa_figures=figures_to_json(figures), qa_uri=qa_uri, needs_review=bool(reasons),
                   review_reasons=json.dumps(reasons))
        return row
