"""render: one render segment: decode its source frames, synthesize the mouth, encode.

Input columns: video_uri, analysis_uri, atlas_uri, plan_uri, segment_start, segment_stop,
segment_uri, width, height, rotation, fps_num, fps_den.
Compositing runs on OpenCV by default; with a GPU asked for (``resources.render.num_gpus``) or
``render.compositor: torch`` it runs as torch ops (lipdub/render/torch_painter.py).
Output columns: segment_uri written (video only, in the item's video codec; same size, rate,
rotation, picture format and colour tags as the source),
and beside it the segment's QA measurement (``qa_part_uri``: the frames as composited against the
source frames they came from, so QA needs no second decode; see lipdub/qa/frame_qa.py).
Fan-out: 1 -> 1 per segment; segments of one item render in parallel and join seamlessly because
the plan (selection, placement smoothing, fades) was made for the whole timeline.
"""
from __future__ import annotations

import json
import logging
from fractions import Fraction
from typing import Any

from lipdub.compute_device import stage_device
from lipdub.face.analysis_record import FaceAnalysis
from lipdub.media.delivery import PictureFormat
from lipdub.media.video_writer import VideoWriter
from lipdub.render.atlas import MouthAtlas
from lipdub.render.painter import Painter
from lipdub.qa.frame_qa import FrameQA, picture_frames, qa_part_uri
from lipdub.render.plan import RenderPlan
from lipdub.render.renderer import MouthCompositor
from lipdub.render.source_frames import frames_for_timeline
from lipdub.storage import local_path
from lipdub.work_store import fetch_member, publish_file
from operators.base import Operator

log = logging.getLogger(__name__)


def source_picture(row: dict[str, Any]) -> PictureFormat | None:
    """The source's picture format and colour tags as probed (None for rows from before them)."""
    if not row.get("source_format"):
        return None
    return PictureFormat(**json.loads(row["source_format"])["picture"])


class RenderOperator(Operator):
    name = "render"

    def setup(self) -> None:
        import cv2

        # OpenCV's thread pool spans every core by default: two render tasks on two cores then
        # run four pools (plus the encoders' threads) and thrash. Measured on the 2-core VM, two
        # 188-frame segments at once, three runs each: one thread each gave 10x fewer involuntary
        # context switches, 5% less CPU, 6% less wall time, byte-identical segment files.
        # A render task is granted num_cpus cores: use that many.
        cv2.setNumThreads(max(1, int(self.config.resources["render"].num_cpus)))

    def process(self, row: dict[str, Any]) -> dict[str, Any]:
        start, stop = int(row["segment_start"]), int(row["segment_stop"])
        fps = Fraction(row["fps_num"], row["fps_den"])
        faces = FaceAnalysis.from_npz(str(fetch_member(row["analysis_uri"])))
        atlas = MouthAtlas(str(fetch_member(row["atlas_uri"])))
        with local_path(row["plan_uri"]) as plan_path:
            plan = RenderPlan.from_npz(plan_path)
        rotation = int(row["rotation"] or 0)
        width, height = (row["height"], row["width"]) if rotation in (90, 270) else (row["width"], row["height"])
        # The segment appears at segment_uri only once fully encoded (publish_file), so assemble
        # never muxes a partial one.
        meter = self._qa_meter(faces, plan, start, stop)
        with local_path(row["video_uri"]) as video_path, publish_file(row["segment_uri"]) as staging:
            source = frames_for_timeline(video_path, plan.source_index[start:stop], fps, self.config.render.max_buffered_frames, native=True)
            compositor = MouthCompositor(atlas, plan, painter=self.painter(atlas))
            encode = self.config.encode
            codec = row.get("video_codec") or encode.video_codec
            with VideoWriter(staging, width, height, fps, crf=encode.crf, preset=encode.preset, rotation=rotation,
                             codec=codec, picture=source_picture(row)) as writer:
                for t, decoded in zip(range(start, stop), source):
                    frame = compositor.render(t, decoded.rgb)
                    # Outside the mouth's box the source's own decoded samples are written back.
                    writer.write_over(decoded.native, frame, compositor.changed_box)
                    if meter is not None:
                        meter.add(t, frame, decoded.rgb)
            if writer.frames_written != stop - start:
                raise RuntimeError(f"segment {row['segment_index']} rendered {writer.frames_written} of {stop - start} frames")
        if meter is not None:
            with publish_file(qa_part_uri(row["segment_uri"])) as staging:
                meter.finish().to_npz(staging)
            meter.mesher.close()
        return row

    def painter(self, atlas: MouthAtlas) -> Painter | None:
        """The torch painter where the config wants it (render.compositor), else None (OpenCV)."""
        choice = self.config.render.compositor
        if choice == "opencv":
            return None
        device = stage_device(self.config, "render")
        if choice == "auto" and device == "cpu":
            return None
        import torch

        from lipdub.render.torch_painter import TorchPainter  # torch only where it paints

        if device == "cpu":  # as for OpenCV above: the task's granted cores, not every core
            torch.set_num_threads(max(1, int(self.config.resources["render"].num_cpus)))
        return TorchPainter(atlas, device)

    def _qa_meter(self, faces: FaceAnalysis, plan: RenderPlan, start: int, stop: int) -> FrameQA | None:
        """The QA measurement of this segment's frames (the qa stage merges the segments'), or None
        when the config leaves QA to decoding the written file."""
        if not self.config.qa.measure_in_render:
            return None
        from lipdub.face.mesh import FaceMesher  # MediaPipe only where QA measures here

        thumbs, sheet = picture_frames(plan.source_index, faces.valid, (plan.weight > 0) & (plan.primary >= 0))
        return FrameQA(faces, plan.source_index, start, stop, thumb_frames=thumbs, sheet_frames=sheet, mesher=FaceMesher())
