"""Streaming mouth compositor: renders the frames of a `lipdub.render.plan.RenderPlan`.

Frames are processed one at a time (warp the chosen atlas crop(s) onto the frame, mask,
colour-match, blend): memory holds one frame and a few crops, whatever the video length. Any
``frame_range`` of a plan can be rendered on its own.
"""
from __future__ import annotations

import logging
from typing import Iterable, Iterator

import numpy as np

from lipdub.face import geometry
from lipdub.render import blend, warp
from lipdub.render.atlas import MouthAtlas
from lipdub.render.mouth_shape import N_SHAPE_POINTS
from lipdub.render.painter import BoxJob, Layer, OpenCvPainter, Painter
from lipdub.render.plan import FaceTrack, RenderPlan, RenderSettings, plan_render

log = logging.getLogger(__name__)

JAW_SLICE = slice(len(geometry.LIP_POINTS), N_SHAPE_POINTS)
# How much of the target-vs-crop shape difference each of the 57 points gets in the refinement:
# lips and the chin follow the target; the jaw's sides are pinned, because moving them drags the
# face silhouette (and the background behind it) into the cheek.
REFINE_WEIGHTS = np.ones((N_SHAPE_POINTS, 1), dtype=np.float32)
REFINE_WEIGHTS[[len(geometry.LIP_POINTS) + i for i in (0, 1, 2, 3, 13, 14, 15, 16)]] = 0.0
REFINE_WEIGHTS[[len(geometry.LIP_POINTS) + i for i in (4, 12)]] = 0.5


class MouthCompositor:
    """Renders single frames of a plan: decides the paste (`job`), the painter makes its pixels."""

    def __init__(self, atlas: MouthAtlas, plan: RenderPlan, settings: RenderSettings | None = None,
                 painter: Painter | None = None) -> None:
        self.atlas = atlas
        # The pixel work: OpenCV on the CPU by default, `TorchPainter` on a GPU.
        self.painter: Painter = painter or OpenCvPainter(atlas)
        self.plan = plan
        self.settings = settings or RenderSettings()
        self.warper = warp.RefinementWarper(atlas.geometry)
        self._model_shapes: dict[int, np.ndarray] = {}
        self.changed_box: warp.BBox | None = None

    def _model_shape(self, entry: int) -> np.ndarray:
        """The speaker model's shape at the entry's own metrics (smoother than its landmarks)."""
        shape = self._model_shapes.get(entry)
        if shape is None:
            if len(self._model_shapes) > 256:
                self._model_shapes.clear()
            shape = self.atlas.basis.shapes_for(self.atlas.metrics[entry][None])[0]
            self._model_shapes[entry] = shape
        return shape

    def _displacement(self, entry: int, target_shape: np.ndarray) -> np.ndarray:
        """How far (canonical) the refinement moves each lip/jaw point of ``entry``."""
        own = self._model_shape(entry)
        return self.settings.refine_strength * REFINE_WEIGHTS * (target_shape - own)

    def _layer(self, entry: int, displacement: np.ndarray, matrix: np.ndarray, bbox: warp.BBox, sharp: bool) -> Layer:
        local = warp.box_affine(matrix, bbox)
        coarse = None
        if self.settings.refine_strength > 0:
            own = self._model_shape(entry)
            x0, y0, x1, y1 = bbox
            coarse = self.warper.coarse_map(own, own + displacement, local, (x1 - x0, y1 - y0))
        return Layer(entry=entry, local=local, coarse_map=coarse, step=self.warper.step, sharp=sharp)

    def job(self, t: int, frame_size: tuple[int, int]) -> BoxJob | None:
        """What frame ``t`` of the plan pastes where, or None when it stays the source frame.
        ``frame_size``: (width, height)."""
        plan = self.plan
        entry = int(plan.primary[t])
        weight = float(plan.weight[t])
        if entry < 0 or weight <= 0:
            return None
        matrix = plan.crop_to_frame[t]
        target_shape = self.atlas.basis.shapes_for(plan.targets[t][None])[0]
        displacement = self._displacement(entry, target_shape)
        entry_jaw = self.atlas.shapes[entry, JAW_SLICE] + displacement[JAW_SLICE]
        mask = blend.lower_face_mask(plan.frame_jaw[t], entry_jaw, plan.nose_bottom[t], self.atlas.geometry, feather=self.settings.mask_feather)
        rect = mask.rect()
        bbox = None if rect is None else warp.bounding_box(matrix, rect, frame_size)
        if bbox is None:
            return None
        secondary = None
        old = int(plan.secondary[t])
        share = float(plan.secondary_weight[t])
        if old >= 0 and share > 0:
            secondary = self._layer(old, self._displacement(old, target_shape), matrix, bbox, sharp=False)
        return BoxJob(bbox=bbox, primary=self._layer(entry, displacement, matrix, bbox, sharp=True), secondary=secondary,
                      share=share, mask=mask, matrix=matrix, weight=weight, colour_match=self.settings.colour_match)

    def render(self, t: int, frame: np.ndarray) -> np.ndarray:
        """Output frame ``t`` of the plan from its source frame; untouched frames are returned as is.
        ``changed_box`` then holds the (x0, y0, x1, y1) outside which the output is the source
        frame itself (None: nothing changed), so the writer can keep the source's own pixels."""
        job = self.job(t, (frame.shape[1], frame.shape[0]))
        self.changed_box = None if job is None else job.bbox
        return frame if job is None else self.painter.paint(frame, job)


def render_frames(
    source_frames_iter: Iterable[np.ndarray],
    timeline_source_index: np.ndarray,
    analysis: FaceTrack,
    atlas: MouthAtlas,
    targets: np.ndarray,
    *,
    settings: RenderSettings | None = None,
    plan: RenderPlan | None = None,
    frame_range: tuple[int, int] | None = None,
    painter: Painter | None = None,
) -> Iterator[np.ndarray]:
    """Yield rendered output frames one by one.

    ``source_frames_iter`` yields, for each output frame t in ``frame_range`` (default: all), the
    upright RGB source frame ``timeline_source_index[t]``. ``plan`` (from :func:`plan_render` on
    the full timeline) may be passed to avoid recomputing it per segment. Frames without a valid
    face or with NaN targets come back as the very same array objects (bit-exact pass-through).
    """
    settings = settings or RenderSettings()
    if plan is None:
        plan = plan_render(timeline_source_index, analysis, atlas, targets, settings)
    start, stop = frame_range if frame_range is not None else (0, len(plan))
    if not 0 <= start <= stop <= len(plan):
        raise ValueError(f"frame range {start}..{stop} outside a timeline of {len(plan)} frames")
    for _, output in render_pairs(source_frames_iter, plan, atlas, settings=settings, frame_range=(start, stop), painter=painter):
        yield output


def render_pairs(
    source_frames_iter: Iterable[np.ndarray],
    plan: RenderPlan,
    atlas: MouthAtlas,
    *,
    settings: RenderSettings | None = None,
    frame_range: tuple[int, int] | None = None,
    painter: Painter | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (source frame, rendered output frame) for each output frame of ``frame_range``; the
    source frame is left as it was (the QA stage compares the two)."""
    start, stop = frame_range if frame_range is not None else (0, len(plan))
    compositor = MouthCompositor(atlas, plan, settings or RenderSettings(), painter)
    produced = 0
    for t, frame in zip(range(start, stop), source_frames_iter):
        yield frame, compositor.render(t, frame)
        produced += 1
    if produced < stop - start:
        log.warning("render: source ran out after %d of %d frames", produced, stop - start)
