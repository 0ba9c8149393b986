"""Task stages keep one operator per worker process, so setup() runs once per process."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import ray

from lipdub.config import PipelineConfig
from lipdub.item_row import empty_row, rows_to_table
from operators.base import Operator
from pipelines.ray_adapter import _task_function, process_operator


class CountingSetups(Operator):
    name = "listen"
    setups = 0  # per process

    def setup(self) -> None:
        type(self).setups += 1

    def process(self, row: dict[str, Any]) -> dict[str, Any]:
        row["error"] = f"{id(self)}:{type(self).setups}"
        return row


def test_same_config_gives_the_same_operator_and_a_changed_one_a_new_one(tmp_path):
    config = PipelineConfig(work_root=str(tmp_path))
    first = process_operator(CountingSetups, config)
    assert process_operator(CountingSetups, PipelineConfig(work_root=str(tmp_path))) is first
    changed = replace(config, work_root=str(tmp_path / "other"))
    assert process_operator(CountingSetups, changed) is not first


def test_a_task_stage_sets_up_once_per_worker_process(ray_local, tmp_path):
    config = PipelineConfig(work_root=str(tmp_path))
    run = _task_function(CountingSetups, config)

    @ray.remote(num_cpus=0.1, max_calls=0)
    def call_twice() -> list[str]:
        return [run(rows_to_table([empty_row(item_id=str(n))])).to_pylist()[0]["error"] for n in range(2)]

    marks = ray.get(call_twice.remote())
    operator_ids = {mark.split(":")[0] for mark in marks}
    assert len(operator_ids) == 1  # one operator served both batches
    assert marks[-1].endswith(":1")  # and its setup ran once


def test_a_local_ray_hands_its_workers_the_forwarded_settings_without_a_runtime_env(ray_local):
    @ray.remote(num_cpus=0.1)
    def worker_env() -> tuple[str | None, dict]:
        import os

        return os.environ.get("OPENBLAS_NUM_THREADS"), ray.get_runtime_context().runtime_env

    threads, runtime_env = ray.get(worker_env.remote())
    assert threads == "1"  # inherited from the driver's environment
    assert not runtime_env.get("env_vars")
