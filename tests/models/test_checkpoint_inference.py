"""A checkpoint's own dub-time settings: recorded after training, used by the learned model."""
from __future__ import annotations

from models.learned_motion import LearnedMotionModel
from models.lipsync_net import NetConfig
from models.motion_checkpoint import cached_checkpoint, load_checkpoint, save_checkpoint, set_inference
from models.motion_training import MotionTrainer, TrainSettings


def test_learned_share_is_read_from_the_checkpoint_unless_given(tmp_path):
    trainer = MotionTrainer(NetConfig(n_features=84, d_model=16, n_layers=1, ff_dim=32), TrainSettings(epochs=1))
    uri = str(tmp_path / "m.pt")
    import torch

    save_checkpoint(uri, {**trainer.state(), "features": {"kind": "logmel", "embedding_dim": 0},
                          "template_reference": torch.zeros(40, 2), "meta": {"videos": ["a"]}})
    assert LearnedMotionModel(cached_checkpoint(uri)).learned_share == 0.5
    assert set_inference(uri, learned_share=0.7) == {"learned_share": 0.7}
    assert load_checkpoint(uri)["epoch"] == 0  # the training state is kept: it still resumes
    state = cached_checkpoint(uri)
    assert LearnedMotionModel(state).learned_share == 0.7
    assert LearnedMotionModel(state, learned_share=0.2).learned_share == 0.2
