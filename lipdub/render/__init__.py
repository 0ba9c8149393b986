"""Default CPU mouth renderer: retrieval from a per-speaker mouth atlas, warp and blend.

Typical use (the plan is ``plan.py``, compositing ``renderer.py``)::

    atlas = build_mouth_atlas(iter_frames(video), analysis.landmarks, analysis.valid,
                              work_dir=..., cut_before=analysis.cut_before)
    plan = plan_render(timeline.source_index, analysis, atlas, targets)
    for frame in render_frames(source_frames, timeline.source_index, analysis, atlas, targets, plan=plan):
        writer.write(frame)
"""
from lipdub.render.atlas import MouthAtlas, build_mouth_atlas
from lipdub.render.plan import RenderPlan, RenderSettings, plan_render
from lipdub.render.renderer import render_frames

__all__ = ["MouthAtlas", "RenderPlan", "RenderSettings", "build_mouth_atlas", "plan_render", "render_frames"]
