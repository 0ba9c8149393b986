from lipdub.config import config_from_mapping
from pipelines.evaluation.holdout import protocol_config


def test_the_protocol_renders_with_the_given_settings_but_its_own_motion_model_and_crf():
    given = config_from_mapping({"render": {"compositor": "torch"}, "encode": {"preset": "fast"},
                                 "motion_checkpoint": "builtin:lipdub-motion-v1"})
    config = protocol_config(given, "/tmp/work-root")
    assert config.render.compositor == "torch" and config.encode.preset == "fast"
    assert config.motion_checkpoint is None  # each variant names its own
    assert config.encode.crf == 12 and config.work_root == "/tmp/work-root"
    assert protocol_config(None, None).render.compositor == "auto"
