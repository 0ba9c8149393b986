"""The operator contract's bookkeeping: wall and CPU seconds per stage, failures as rows."""
from __future__ import annotations

import time
from typing import Any

from lipdub.item_row import empty_row
from operators.base import Operator


class Spinning(Operator):
    name = "render"

    def process(self, row: dict[str, Any]) -> dict[str, Any]:
        until = time.process_time() + 0.3
        while time.process_time() < until:
            pass
        return row


class Sleeping(Operator):
    name = "render"

    def process(self, row: dict[str, Any]) -> dict[str, Any]:
        time.sleep(0.3)
        return row


class Broken(Operator):
    name = "render"

    def process(self, row: dict[str, Any]) -> dict[str, Any]:
        until = time.process_time() + 0.2
        while time.process_time() < until:
            pass
        raise ValueError("bad frame")


def test_working_stage_records_cpu_seconds_near_its_wall_seconds():
    (row,) = Spinning().run_row(empty_row(item_id="a"))
    assert row["cpu_seconds_render"] >= 0.3
    # Process CPU counts every thread (Ray's, from earlier tests): it may run ahead of the wall.
    assert row["seconds_render"] >= 0.15


def test_waiting_stage_records_wall_seconds_but_little_cpu():
    (waiting,) = Sleeping().run_row(empty_row(item_id="a"))
    (working,) = Spinning().run_row(empty_row(item_id="b"))
    assert waiting["seconds_render"] >= 0.3
    # Relative, not a fixed bound: process CPU counts every thread (Ray's, from earlier tests),
    # which a loaded machine lets run at any moment. A waiting stage still records much less
    # CPU than its wall time, and much less than a stage that works for as long.
    assert waiting["cpu_seconds_render"] < 0.5 * waiting["seconds_render"]
    assert waiting["cpu_seconds_render"] < 0.5 * working["cpu_seconds_render"]


def test_seconds_add_to_what_the_row_already_had_and_count_failures_too():
    (row,) = Broken().run_row(empty_row(item_id="a", seconds_render=1.0, cpu_seconds_render=2.0))
    assert row["status"] == "failed" and row["error"] == "ValueError: bad frame"
    assert row["cpu_seconds_render"] >= 2.2 and row["seconds_render"] >= 1.1
