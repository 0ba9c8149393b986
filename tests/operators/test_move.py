import numpy as np

from lipdub.render.plan import RenderPlan


def test_move_plans_every_output_frame(moved_row):
    assert moved_row["status"] == "pending", moved_row["error"]
    plan = RenderPlan.from_npz(moved_row["plan_uri"])
    assert len(plan.source_index) == moved_row["n_output_frames"]
    assert np.isfinite(plan.targets).all()
    assert moved_row["edited_frames"] > 0.8 * moved_row["n_output_frames"]
    # The mouth really moves with the dub: targets vary over time.
    assert plan.targets[:, 0].std() > 0.01


def test_move_uses_the_learned_model_when_a_checkpoint_is_configured(stage_config, listened_row, moved_row, tmp_path):
    import dataclasses

    import torch

    from models.lipsync_net import NetConfig
    from models.motion_checkpoint import save_checkpoint
    from models.motion_inputs import n_input_features
    from models.motion_training import MotionTrainer, TrainSettings
    from operators.move import MoveOperator
    from tests.models.conftest import TINY_NET, as_batches, synthetic_windows
    from tests.operators.conftest import run_stage

    trainer = MotionTrainer(NetConfig(n_features=n_input_features("logmel"), **TINY_NET), TrainSettings(epochs=1))
    windows = synthetic_windows(8, seed=7)
    trainer.train_epoch(as_batches(windows))
    checkpoint = str(tmp_path / "motion.pt")
    save_checkpoint(checkpoint, {**trainer.state(), "features": {"kind": "logmel"},
                                 "template_reference": torch.as_tensor(windows[0]["reference"])})
    work_dir = str(tmp_path / "item")
    config = dataclasses.replace(stage_config, motion_checkpoint=checkpoint)
    (row,) = run_stage(MoveOperator, config, {**listened_row, "work_dir": work_dir})
    assert row["status"] == "pending", row["error"]
    learned = RenderPlan.from_npz(row["plan_uri"]).targets
    rules = RenderPlan.from_npz(moved_row["plan_uri"]).targets
    assert learned.shape == rules.shape and np.isfinite(learned).all()
    assert not np.allclose(learned, rules)  # another model made these targets
    assert learned[:, 0].std() > 0.01

    # A checkpoint that is not there fails the item with a clear message, not the stage.
    missing = dataclasses.replace(stage_config, motion_checkpoint=str(tmp_path / "nothing.pt"))
    (row,) = run_stage(MoveOperator, missing, {**listened_row, "work_dir": work_dir})
    assert row["status"] == "failed" and "motion checkpoint not found" in row["error"]
