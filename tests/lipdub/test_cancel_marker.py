import pytest

from lipdub.cancel_marker import REASON, item_work_dir, raise_if_cancelled, request_cancel
from lipdub.config import PipelineConfig
from lipdub.errors import ItemCancelled
from operators.base import Operator


class Counting(Operator):
    name = "counting"

    def __init__(self, config=None):
        super().__init__(config)
        self.processed = 0

    def process(self, row):
        self.processed += 1
        return row


def test_a_cancelled_item_stops_at_the_next_stage_with_the_reason(tmp_path):
    work_dir = item_work_dir(str(tmp_path), "dub/1")
    row = {"item_id": "dub/1", "status": "pending", "work_dir": work_dir}
    stage = Counting(PipelineConfig(work_root=str(tmp_path)))
    assert stage.run_row(row)[0]["status"] == "pending" and stage.processed == 1
    request_cancel(work_dir)
    (out,) = stage.run_row(row)
    assert stage.processed == 1  # no work was done for it
    assert (out["status"], out["failed_stage"], out["error"]) == ("failed", "counting", REASON)


def test_rows_without_a_work_dir_yet_are_not_looked_up(tmp_path):
    raise_if_cancelled({"item_id": "x"})  # before the probe: nothing to look at
    request_cancel(item_work_dir(str(tmp_path), "x"))
    with pytest.raises(ItemCancelled):
        raise_if_cancelled({"item_id": "x", "work_dir": item_work_dir(str(tmp_path), "x")})
