"""`lipdub qa OUTPUT --source VIDEO --dub AUDIO`: the QA gate on one file made anywhere.

Without the pipeline's records the source is analysed here, the timeline is rebuilt with the
pipeline's own rule (``--sync-mode``, default: bounce when the dub is longer than the video) and
"edited" is judged from the pixels.
"""
from __future__ import annotations

from typing import Any

from lipdub.audio.frame_loudness import loudness_per_frame_or_none
from lipdub.config import QAConfig
from lipdub.face.analysis import analyze_faces
from lipdub.media.probe import probe_audio, probe_video
from lipdub.qa.details import QADetails
from lipdub.qa.gate import review_reasons
from lipdub.qa.measure import QASubject, measure
from lipdub.storage import local_path
from lipdub.timeline import plan_timeline, resolve_sync_mode


def qa_output(output: str, *, source: str, dub: str, sync_mode: str | None = None,
              config: QAConfig | None = None) -> tuple[dict[str, Any], QADetails]:
    """Figures plus ``needs_review`` and ``reasons`` for one output, and its details."""
    with local_path(output) as out_path, local_path(source) as src_path, local_path(dub) as dub_path:
        src_info = probe_video(src_path)
        fps = float(src_info.fps)
        dub_seconds = probe_audio(dub_path).duration_s
        mode = resolve_sync_mode(sync_mode, src_info.n_frames / fps, dub_seconds)
        timeline = plan_timeline(src_info.n_frames, fps, dub_seconds, mode)
        faces = analyze_faces(src_path, source_loudness=loudness_per_frame_or_none(src_path, src_info.n_frames, fps))
        subject = QASubject(out_path, src_path, dub_path, faces, source_index=timeline.source_index,
                            planned_frames=timeline.n_frames, planned_fps=src_info.fps)
        figures, details = measure(subject)
    reasons = review_reasons(figures, config)
    return {**figures, "sync_mode": mode, "needs_review": bool(reasons), "reasons": reasons}, details
