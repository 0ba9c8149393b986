"""The warm pipeline: one long-lived execution that requests flow into (real local Ray, the demo sample)."""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import pytest
import ray

from lipdub.catalog import Catalog, catalog_item_row
from lipdub.config import PipelineConfig
from pipelines.catalog_run import run_catalog
from pipelines.warm_pipeline import IDLE_ACTOR_CPU_SHARE, WarmPipeline, stream_through, warm_config


@pytest.fixture
def warm(ray_local, tmp_path):
    pipeline = WarmPipeline.remote(PipelineConfig(work_root=str(tmp_path / "work")))
    yield pipeline
    ray.get(pipeline.close.remote())
    ray.kill(pipeline)


def _row(item_id: str, demo_inputs, out: Path) -> dict:
    source, dub = demo_inputs
    return catalog_item_row({"item_id": item_id, "video_uri": str(source), "audio_uri": str(dub), "output_uri": str(out), "language": "de"},
                            base="", output_root=None)


def test_requests_flow_into_one_execution(warm, demo_inputs, tmp_path):
    seconds, summaries = [], []
    for index in range(2):
        out = tmp_path / f"out-{index}.mp4"
        catalog = Catalog(uri=f"api:req-{index}", rows=[_row(f"req-{index}", demo_inputs, out)])
        started = time.perf_counter()
        summaries.append(run_catalog(catalog.uri, catalog=catalog, config=PipelineConfig(work_root=str(tmp_path / "work")),
                                     state_root=str(tmp_path / "runs"), run_id=f"req-{index}",
                                     stream=lambda rows, record: stream_through(warm, rows, record)))
        seconds.append(time.perf_counter() - started)
        assert summaries[-1].ok == 1, summaries[-1]
        assert out.stat().st_size > 0
    assert [summary.ok for summary in summaries] == [1, 1]
    stats = ray.get(warm.stats.remote())
    assert stats["executions"] == 1 and stats["in_flight"] == 0  # the same execution served both
    # The second request found its stage actors loaded (and the source's analysis cached). How
    # much faster that makes it is `lipdub bench --warm`'s question, not a unit test's: logged only.
    logging.getLogger(__name__).info("warm pipeline: first request %.1f s, second %.1f s", *seconds)


def test_a_cancelled_item_stops_and_never_publishes(warm, demo_inputs, tmp_path):
    out = tmp_path / "cancelled.mp4"
    ray.get(warm.submit.remote([_row("to-cancel", demo_inputs, out)]))
    time.sleep(2.0)  # into the execution
    ray.get(warm.cancel.remote(["to-cancel"]))
    # Another request still runs through the same execution after it.
    done = []
    stream_through(warm, [_row("after", demo_inputs, tmp_path / "after.mp4")], done.append)
    assert [row["status"] for row in done] == ["ok"]
    deadline = time.time() + 60
    while ray.get(warm.stats.remote())["in_flight"] and time.time() < deadline:
        time.sleep(0.5)
    assert ray.get(warm.stats.remote())["in_flight"] == 0
    assert not out.exists(), "a cancelled item left an output"
    assert ray.get(warm.results.remote(["to-cancel"], 0.1)) == []  # nobody collects a cancelled item's result


def test_rows_already_in_the_pipeline_cannot_be_submitted_twice(warm, demo_inputs, tmp_path):
    row = _row("twice", demo_inputs, tmp_path / "twice.mp4")
    ray.get(warm.submit.remote([row]))
    with pytest.raises(ray.exceptions.RayTaskError, match="already in the pipeline"):
        ray.get(warm.submit.remote([row]))
    ray.get(warm.cancel.remote(["twice"]))


def test_always_up_actors_leave_their_cores_to_render():
    config = PipelineConfig()
    config = config.with_overrides(resources={**config.resources, "render": replace(config.resources["render"], num_gpus=0.25)})
    warm = warm_config(config)
    for stage, wanted in config.resources.items():
        got = warm.resources[stage]
        if wanted.pool_size:  # an actor stage: a share of its CPUs, the rest as asked
            assert got.num_cpus == wanted.num_cpus * IDLE_ACTOR_CPU_SHARE
            assert (got.memory_mb, got.pool_size, got.num_gpus) == (wanted.memory_mb, wanted.pool_size, wanted.num_gpus)
        else:
            assert got == wanted
    # On the default 4 logical CPUs the actors' shares leave room for three render segments at once,
    # as a per-run execution gets once its actor stages are done.
    actors = sum(r.num_cpus * r.pool_size for r in warm.resources.values() if r.pool_size)
    assert int((4.0 - actors) // warm.resources["render"].num_cpus) == 3
    # Resources are not part of what an output depends on.
    assert warm.output_fingerprint_salt() == config.output_fingerprint_salt()
