"""`lipdub eval OUTPUT --source VIDEO --dub AUDIO`: measured quality of one dubbed output.

- sync: audio-visual offset (frames) and correlation between the output's mouth opening and the
  dub's loudness per frame;
- PSNR of everything outside the lower face against the source (frame i against source frame i,
  the cut_off/silence timeline), which must stay high: nothing but the mouth may change;
- mouth jitter of the output beside the source's own.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from lipdub.audio.frame_loudness import loudness_per_frame
from lipdub.errors import InputError
from lipdub.evaluation.metrics import OutsidePSNR, av_offset, lower_face_mask, mouth_jitter
from lipdub.face.analysis import analyze_faces
from lipdub.media.probe import probe_video
from lipdub.media.video_reader import iter_frames
from lipdub.storage import local_path


def _opening(faces) -> np.ndarray:
    return faces.mouth_measurements(missing=np.nan)[:, 0].astype(np.float64)


def evaluate_output(output: str, *, source: str, dub: str) -> dict[str, Any]:
    with local_path(output) as out_path, local_path(source) as src_path, local_path(dub) as dub_path:
        info = probe_video(out_path)
        fps = float(info.fps)
        dub_loudness = loudness_per_frame(dub_path, info.n_frames, fps)
        out_faces = analyze_faces(out_path, source_loudness=dub_loudness)
        src_info = probe_video(src_path)
        try:
            src_loudness = loudness_per_frame(src_path, src_info.n_frames, float(src_info.fps))
        except InputError:
            src_loudness = None  # a silent source: its speaker is the largest face
        src_faces = analyze_faces(src_path, source_loudness=src_loudness)
        out_open = _opening(out_faces)
        lag, corr, corr0 = av_offset(out_open, dub_loudness)
        meter = OutsidePSNR()
        for index, (out_frame, src_frame) in enumerate(zip(iter_frames(out_path), iter_frames(src_path))):
            landmarks = out_faces.landmarks[index] if out_faces.valid[index] else None
            meter.add(out_frame, src_frame, lower_face_mask(out_frame.shape[:2], landmarks))
    output_jitter = mouth_jitter(out_open)
    source_jitter = mouth_jitter(_opening(src_faces))
    return {
        "frames": int(info.n_frames),
        "fps": fps,
        "av_offset_frames": int(lag),
        "sync_corr": corr,
        "sync_corr_at_zero": corr0,
        "outside_lower_face_psnr_db": meter.psnr_db(),
        "mouth_jitter": output_jitter,
        "source_mouth_jitter": source_jitter,
        "jitter_ratio": output_jitter / source_jitter if source_jitter and np.isfinite(source_jitter) else float("nan"),
        "speaker_found_share": float(np.mean(out_faces.valid)),
    }
