"""qa: measure each finished output and decide whether a person must look at it.

Input columns: output_uri, video_uri, audio_uri, analysis_uri, plan_uri, segment_uris, work_dir,
n_output_frames, fps_num, fps_den.
Output columns: the qa_* figures, qa_figures (JSON of all of them), qa_uri (details for
`lipdub report`), needs_review, review_reasons (JSON list of readable reasons).
Fan-out: 1 -> 1. By default the render stage measured every frame it composited against its
source frame (lipdub/qa/frame_qa.py, one part per segment); here the parts are merged and the
written file is checked (frames, rate, audio). With ``qa.measure_in_render`` off, or a part
missing, the written output and the source are decoded and measured here (lipdub/qa/measure.py).
The verdict comes from the thresholds in ``config.qa`` (lipdub/qa/gate.py).
"""
from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import numpy as np

from lipdub.face.analysis_record import FaceAnalysis
from lipdub.qa.details import QADetails
from lipdub.qa.figures_json import figures_to_json
from lipdub.qa.frame_qa import QAPart, merge_parts, qa_part_uri
from lipdub.qa.gate import review_reasons
from lipdub.audio.frame_loudness import loudness_per_frame, loudness_per_frame_or_none
from lipdub.qa.measure import OutputFile, QASubject, details_from_part, figures_from_part, measure
from lipdub.render.plan import RenderPlan
from lipdub.storage import join_uri, local_path, uri_exists
from lipdub.work_store import fetch_member, publish_file
from operators.base import Operator

QA_FILE = "qa.npz"

# Figures that get a column of their own in the results manifest. (speaker_found_share stays the
# analyze stage's, over the source's frames; QA's, over the output timeline, is in qa_figures.)
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
}


def _render_parts(row: dict[str, Any]) -> list[QAPart] | None:
    """The render stage's QA parts of every segment, or None if any is missing."""
    uris = [qa_part_uri(uri) for uri in json.loads(row.get("segment_uris") or "[]")]
    if not uris or not all(uri_exists(uri) for uri in uris):
        return None
    parts = []
    for uri in uris:
        with local_path(uri) as path:
            parts.append(QAPart.from_npz(path))
    return parts


class QAOperator(Operator):
    name = "qa"

    def setup(self) -> None:
        self.mesher = None  # made on first use: only decoding QA needs it

    def process(self, row: dict[str, Any]) -> dict[str, Any]:
        faces = FaceAnalysis.from_npz(str(fetch_member(row["analysis_uri"])))
        with local_path(row["plan_uri"]) as plan_path:
            plan = RenderPlan.from_npz(plan_path)
        edited = (plan.weight > 0) & (plan.primary >= 0)
        planned_fps = Fraction(int(row["fps_num"]), int(row["fps_den"]))
        parts = _render_parts(row) if self.config.qa.measure_in_render else None
        with local_path(row["output_uri"]) as output, local_path(row["video_uri"]) as source, \
                local_path(row["audio_uri"]) as dub:
            if parts is not None:
                figures, details = self._merge(parts, output, source, dub, faces, plan.source_index, edited, planned_fps)
            else:
                figures, details = measure(QASubject(output, source, dub, faces, source_index=plan.source_index, edited=edited,
                                                     planned_frames=len(plan), planned_fps=planned_fps), mesher=self._mesher())
                figures["measured_from"] = "file"
        qa_uri = join_uri(row["work_dir"], QA_FILE)
        with publish_file(qa_uri) as staging:
            details.to_npz(staging)
        reasons = review_reasons(figures, self.config.qa)
        row.update({column: float(figures[key]) for column, key in FIGURE_COLUMNS.items()})
        row.update(qa_figures=figures_to_json(figures), qa_uri=qa_uri, needs_review=bool(reasons),
                   review_reasons=json.dumps(reasons))
        return row

    def _mesher(self):
        if self.mesher is None:
            from lipdub.face.mesh import FaceMesher

            self.mesher = FaceMesher()
        return self.mesher

    @staticmethod
    def _merge(parts: list[QAPart], output: str, source: str, dub: str, faces: FaceAnalysis, source_index: np.ndarray,
               edited: np.ndarray, planned_fps: Fraction) -> tuple[dict[str, Any], QADetails]:
        part = merge_parts(parts)
        written = OutputFile.probe(output)
        n = part.stop - part.start
        dub_loudness = loudness_per_frame(dub, n, float(written.fps))
        figures = figures_from_part(part, output=written, faces=faces, source_index=source_index, dub_loudness=dub_loudness,
                                    source_loudness=loudness_per_frame_or_none(source, faces.n_frames, faces.fps), edited=edited,
                                    planned_frames=len(source_index), planned_fps=planned_fps)
        # Pixels were compared before encoding: PSNR outside the lower face says what the
        # renderer changed there, without the codec's own noise.
        figures["measured_from"] = "render"
        details = details_from_part(part, fps=float(written.fps), faces=faces, source_index=source_index,
                                    dub_loudness=dub_loudness, edited=edited)
        return figures, details
