"""The operator chain with its work store on S3 (a real S3-compatible server on loopback), stages
spread over three simulated nodes that share no disk: each has its own node-local cache."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lipdub.config import PipelineConfig, RenderConfig
from lipdub.item_row import empty_row
from lipdub.media.probe import probe_video
from lipdub.qa.details import QADetails
from lipdub.storage import filesystem_for, local_path
from operators.analyze import AnalyzeOperator
from operators.assemble import AssembleOperator, merge_segment_rows
from operators.listen import ListenOperator
from operators.move import MoveOperator
from operators.probe import ProbeOperator
from operators.qa import QAOperator
from operators.render import RenderOperator
from operators.segment import SegmentOperator

WORK_ROOT = "s3://lipdub/work"
OUTPUT_URI = "s3://lipdub/out/dubbed.mp4"


def on_node(patch: pytest.MonkeyPatch, caches: Path, node: str) -> None:
    patch.setenv("LIPDUB_NODE_CACHE", str(caches / node))


def run(operator_cls, config: PipelineConfig, row: dict[str, Any]) -> list[dict[str, Any]]:
    rows = operator_cls(config).run_row(row)
    for out in rows:
        assert out["status"] in ("pending", "ok"), f"{operator_cls.name}: {out['error']}"
    return rows


@pytest.fixture(scope="module")
def chain(s3_server_for_module, demo_inputs, tmp_path_factory):
    """Rows after each stage: probe/analyze/listen/move on node a, render on b, assemble on c, qa on a."""
    source, dub = demo_inputs
    caches = tmp_path_factory.mktemp("node-caches")
    config = PipelineConfig(work_root=WORK_ROOT, render=RenderConfig(segment_seconds=1.5))
    stages: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as patch:
        on_node(patch, caches, "node-a")
        (row,) = run(ProbeOperator, config, empty_row(item_id="demo/s3", video_uri=str(source), audio_uri=str(dub), output_uri=OUTPUT_URI))
        for operator_cls in (AnalyzeOperator, ListenOperator, MoveOperator):
            (row,) = run(operator_cls, config, row)
            stages[operator_cls.name] = row
        segments = run(SegmentOperator, config, row)
        on_node(patch, caches, "node-b")
        stages["render"] = [out for segment in segments for out in run(RenderOperator, config, segment)]
        on_node(patch, caches, "node-c")
        (stages["assemble"],) = run(AssembleOperator, config, merge_segment_rows(stages["render"]))
        on_node(patch, caches, "node-a")
        (stages["qa"],) = run(QAOperator, config, stages["assemble"])
    stages["caches"] = caches
    return stages


def test_the_chain_writes_a_valid_output_through_an_s3_work_store(chain):
    row = chain["assemble"]
    with local_path(row["output_uri"]) as output:
        info = probe_video(output)
    assert info.n_frames == row["n_output_frames"]
    assert info.has_audio


def test_qa_merges_the_segments_measurements_from_the_s3_work_store(chain):
    row = chain["qa"]
    assert row["status"] == "ok", row["error"]
    figures = json.loads(row["qa_figures"])
    assert figures["measured_from"] == "render" and figures["compared_frames"] == row["n_output_frames"]
    assert row["qa_uri"].startswith(WORK_ROOT + "/")
    with local_path(row["qa_uri"]) as details:
        assert QADetails.from_npz(details).n_frames == row["n_output_frames"]


def test_every_artifact_is_in_the_s3_work_store(chain):
    analyzed, listened, moved = chain["analyze"], chain["listen"], chain["move"]
    uris = [analyzed["analysis_uri"], analyzed["atlas_uri"], listened["dub_speech_uri"],
            listened["source_speech_uri"], moved["plan_uri"]] + [row["segment_uri"] for row in chain["render"]]
    assert all(uri.startswith(WORK_ROOT + "/") for uri in uris), uris

    fs = filesystem_for(WORK_ROOT)
    fs.invalidate_cache()
    keys = fs.find("lipdub/work")
    work_dir = moved["work_dir"].removeprefix("s3://")
    for uri in (listened["dub_speech_uri"], listened["source_speech_uri"], moved["plan_uri"], *(r["segment_uri"] for r in chain["render"])):
        assert uri.removeprefix("s3://") in keys
    # The analysis directory: one published version, named by its COMPLETE marker.
    analysis_dir = analyzed["analysis_uri"].removeprefix("s3://").rsplit("/", 1)[0]
    version = fs.cat_file(f"{analysis_dir}/COMPLETE").decode()
    assert f"{analysis_dir}/{version}/faces.npz" in keys
    assert any(key.startswith(f"{analysis_dir}/{version}/atlas/") for key in keys)
    # Per-item files only: no staging names were left behind.
    assert sorted(key.rsplit("/", 1)[1] for key in keys if key.startswith(work_dir + "/segments/")) == sorted(
        name for i in range(len(chain["render"])) for name in (f"{i:05d}.mp4", f"{i:05d}.qa.npz"))


def test_nodes_fetch_the_analysis_into_their_own_cache(chain):
    caches = chain["caches"]
    # a published the analysis and kept it; b downloaded it to render; c needed no analysis.
    assert [(p / "faces.npz").is_file() for p in (caches / "node-a").iterdir()] == [True]
    assert [(p / "atlas").is_dir() for p in (caches / "node-b").iterdir()] == [True]
    assert not (caches / "node-c").exists() or list((caches / "node-c").iterdir()) == []
