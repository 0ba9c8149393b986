import logging

import pytest
import torch

from lipdub.compute_device import stage_device
from lipdub.config import config_from_mapping, PipelineConfig


def test_a_stage_that_asks_for_no_gpu_computes_on_the_cpu():
    assert stage_device(PipelineConfig(), "render") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_a_stage_that_asks_for_a_gpu_where_none_is_visible_computes_on_the_cpu_and_says_so(caplog):
    config = config_from_mapping({"resources": {"render": {"num_gpus": 1}}})
    with caplog.at_level(logging.WARNING, logger="lipdub.compute_device"):
        assert stage_device(config, "render") == "cpu"
    assert "asks Ray for a GPU but torch sees no CUDA device" in caplog.text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_a_stage_that_asks_for_a_gpu_gets_cuda_where_one_is_visible():
    config = config_from_mapping({"resources": {"move": {"num_gpus": 0.5}}})
    assert stage_device(config, "move") == "cuda"
