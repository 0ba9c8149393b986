import numpy as np

from lipdub.render.renderer import RenderPlan


def test_move_plans_every_output_frame(moved_row):
    assert moved_row["status"] == "pending", moved_row["error"]
    plan = RenderPlan.from_npz(moved_row["plan_uri"])
    assert len(plan.source_index) == moved_row["n_output_frames"]
    assert np.isfinite(plan.targets).all()
    assert moved_row["edited_frames"] > 0.8 * moved_row["n_output_frames"]
    # The mouth really moves with the dub: targets vary over time.
    assert plan.targets[:, 0].std() > 0.01
