"""Operators called directly (setup()/process(), no Ray) on the demo sample, stage by stage.

Each fixture runs one more stage on the row the previous one produced, so each operator's test
gets a realistic input row without repeating the expensive stages before it.
"""
from __future__ import annotations

from typing import Any

import pytest

from lipdub.config import PipelineConfig, RenderConfig
from lipdub.item_row import empty_row


def run_stage(operator_cls, config: PipelineConfig, row: dict[str, Any]) -> list[dict[str, Any]]:
    operator = operator_cls(config)
    return operator.run_row(row)


@pytest.fixture(scope="session")
def stage_config(tmp_path_factory) -> PipelineConfig:
    return PipelineConfig(work_root=str(tmp_path_factory.mktemp("work")), render=RenderConfig(segment_seconds=1.5))


@pytest.fixture(scope="session")
def catalog_row(demo_inputs, tmp_path_factory) -> dict[str, Any]:
    source, dub = demo_inputs
    out = tmp_path_factory.mktemp("outputs") / "dubbed.mp4"
    return empty_row(item_id="demo/1", video_uri=str(source), audio_uri=str(dub), output_uri=str(out))


@pytest.fixture(scope="session")
def probed_row(stage_config, catalog_row):
    from operators.probe import ProbeOperator

    (row,) = run_stage(ProbeOperator, stage_config, catalog_row)
    return row


@pytest.fixture(scope="session")
def analyzed_row(stage_config, probed_row):
    from operators.analyze import AnalyzeOperator

    (row,) = run_stage(AnalyzeOperator, stage_config, probed_row)
    return row


@pytest.fixture(scope="session")
def listened_row(stage_config, analyzed_row):
    from operators.listen import ListenOperator

    (row,) = run_stage(ListenOperator, stage_config, analyzed_row)
    return row


@pytest.fixture(scope="session")
def moved_row(stage_config, listened_row):
    from operators.move import MoveOperator

    (row,) = run_stage(MoveOperator, stage_config, listened_row)
    return row


@pytest.fixture(scope="session")
def segment_rows(stage_config, moved_row):
    from operators.segment import SegmentOperator

    return run_stage(SegmentOperator, stage_config, moved_row)


@pytest.fixture(scope="session")
def rendered_rows(stage_config, segment_rows):
    from operators.render import RenderOperator

    return [out for row in segment_rows for out in run_stage(RenderOperator, stage_config, row)]


@pytest.fixture(scope="session")
def assembled_row(stage_config, rendered_rows):
    from operators.assemble import AssembleOperator, merge_segment_rows

    (row,) = run_stage(AssembleOperator, stage_config, merge_segment_rows(rendered_rows))
    return row
