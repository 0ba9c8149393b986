"""qa: check each finished output before anyone relies on it.

Input columns: output_uri, n_output_frames, fps_num, fps_den, edited_frames, speaker_found_share.
Output columns: needs_review, review_reasons (JSON list of readable reasons).
Fan-out: 1 -> 1. Checks here are the cheap structural ones (the output opens, has the planned
number of frames at the source's frame rate, and the speaker was edited in most frames); the
measured sync/seam/flicker gate builds on `lipdub eval`'s metrics.
"""
from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

from lipdub.media.probe import probe_video
from lipdub.storage import local_path
from operators.base import Operator

# Below this share of edited frames a person should look at the item.
MIN_EDITED_SHARE = 0.5


def structural_review_reasons(row: dict[str, Any], n_frames: int, fps: Fraction, has_audio: bool) -> list[str]:
    reasons = []
    if n_frames != row["n_output_frames"]:
        reasons.append(f"output has {n_frames} frames, planned {row['n_output_frames']}")
    if fps != Fraction(row["fps_num"], row["fps_den"]):
        reasons.append(f"output frame rate {float(fps):.3f} differs from the source's {row['fps_num'] / row['fps_den']:.3f}")
    if not has_audio:
        reasons.append("output has no audio track")
    edited_share = (row.get("edited_frames") or 0) / max(1, row["n_output_frames"])
    if edited_share < MIN_EDITED_SHARE:
        reasons.append(f"the speaker's mouth was edited in only {edited_share:.0%} of frames")
    return reasons


class QAOperator(Operator):
    name = "qa"

    def process(self, row: dict[str, Any]) -> dict[str, Any]:
        with local_path(row["output_uri"]) as output_path:
            info = probe_video(output_path)
        reasons = structural_review_reasons(row, info.n_frames, info.fps, info.has_audio)
        row.update(needs_review=bool(reasons), review_reasons=json.dumps(reasons))
        return row
