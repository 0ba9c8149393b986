"""ray_cluster.yaml is checked offline against Ray's own autoscaler schema."""
from pathlib import Path

import yaml
from ray.autoscaler._private.util import prepare_config, validate_config  # private: pinned to ray 2.60 here

CLUSTER_YAML = Path(__file__).resolve().parents[1] / "ray_cluster.yaml"


def test_cluster_yaml_is_valid_for_ray_autoscaler():
    config = yaml.safe_load(CLUSTER_YAML.read_text())
    validate_config(prepare_config(config))
    types = config["available_node_types"]
    assert types["gpu_workers"]["resources"]["GPU"] == 1
    assert types["gpu_workers"]["min_workers"] == 0
    assert types["cpu_workers"]["max_workers"] > types["cpu_workers"]["min_workers"]
    assert "GPU" not in types[config["head_node_type"]]["resources"]
