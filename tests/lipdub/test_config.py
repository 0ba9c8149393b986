from pathlib import Path

import pytest

from lipdub.config import PipelineConfig, config_from_mapping, load_config
from pipelines.ray_adapter import forwarded_env, map_batches_arguments

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_cluster_config_loads_and_only_changes_what_it_names():
    config = load_config(str(ROOT / "configs" / "cluster.yaml"))
    assert config.work_root.startswith("s3://")
    assert config.resources["analyze"].max_pool_size == 32
    assert config.resources["probe"] == PipelineConfig().resources["probe"]
    assert config.encode.crf == 18 and config.render == PipelineConfig().render


def test_gpus_and_custom_resources_are_requested_only_when_configured():
    config = config_from_mapping({"resources": {"move": {"num_gpus": 0.5, "custom_resources": {"gpu_pool": 1}}}})
    move = map_batches_arguments(config.resources["move"])
    assert move["num_gpus"] == 0.5 and move["resources"] == {"gpu_pool": 1}
    render = map_batches_arguments(config.resources["render"])
    assert "num_gpus" not in render and "resources" not in render


def test_unknown_keys_and_stages_are_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown config keys"):
        config_from_mapping({"renderer": {}})
    with pytest.raises(ValueError, match="unknown stage 'paint'"):
        config_from_mapping({"resources": {"paint": {"num_cpus": 1}}})
    with pytest.raises(TypeError):
        config_from_mapping({"encode": {"quality": 3}})
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        load_config(str(tmp_path / "list.yaml"))


def test_workers_get_settings_but_never_secrets(monkeypatch):
    monkeypatch.setenv("LIPDUB_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LIPDUB_API_TOKEN", "hush")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hush")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    env = forwarded_env()
    assert env["LIPDUB_S3_ENDPOINT_URL"] == "http://127.0.0.1:9" and env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert "LIPDUB_API_TOKEN" not in env and "AWS_SECRET_ACCESS_KEY" not in env


def test_the_shipped_gpu_config_asks_for_gpus_for_render_and_move_only():
    config = load_config(str(ROOT / "configs" / "gpu.yaml"))
    asking = {stage for stage, resources in config.resources.items() if resources.num_gpus > 0}
    assert asking == {"render", "move"}
    assert config.render.compositor == "auto"
    # The default config never asks for one: the CPU path stays the default.
    assert all(r.num_gpus == 0 for r in PipelineConfig().resources.values())


def test_an_unknown_compositor_is_an_error_at_load_time():
    with pytest.raises(ValueError, match="unknown render.compositor 'cuda'"):
        config_from_mapping({"render": {"compositor": "cuda"}})


def test_the_compositor_choice_does_not_redo_outputs():
    torch_config = config_from_mapping({"render": {"compositor": "torch"}})
    assert torch_config.output_fingerprint_salt() == PipelineConfig().output_fingerprint_salt()
    assert config_from_mapping({"render": {"fade_frames": 6}}).output_fingerprint_salt() != PipelineConfig().output_fingerprint_salt()
