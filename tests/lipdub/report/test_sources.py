from lipdub.item_row import empty_row
from lipdub.report.sources import load_all_details, load_details, read_rows, read_run_summary
from lipdub.results import write_rows
from tests.lipdub.report.run_fixtures import make_details, write_details


def test_details_are_read_from_the_rows_uri(tmp_path):
    uri = str(tmp_path / "qa.npz")
    write_details(make_details(60, n_thumbs=2), uri)
    loaded = load_details(empty_row(item_id="a", status="ok", qa_uri=uri))
    assert loaded.problem is None and loaded.details.n_frames == 60 and len(loaded.details.thumbs_after) == 2


def test_missing_or_broken_details_say_why_and_never_raise(tmp_path):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip file")
    rows = [
        empty_row(item_id="gone", status="ok", qa_uri=str(tmp_path / "gone.npz")),
        empty_row(item_id="broken", status="ok", qa_uri=str(broken)),
        empty_row(item_id="old", status="ok"),
        empty_row(item_id="failed", status="failed"),
    ]
    gone, bad, old, failed = load_all_details(rows)
    assert gone.details is None and "gone.npz" in gone.problem and "FileNotFoundError" in gone.problem
    assert bad.details is None and "broken.npz" in bad.problem
    assert old.details is None and "no QA details were recorded" in old.problem
    assert failed.details is None and "failed" in failed.problem


def test_rows_from_a_run_folder_or_its_manifest(tmp_path):
    write_rows([empty_row(item_id="a", status="ok")], str(tmp_path / "run" / "results.parquet"))
    assert [row["item_id"] for row in read_rows(str(tmp_path / "run"))] == ["a"]
    assert [row["item_id"] for row in read_rows(str(tmp_path / "run" / "results.parquet"))] == ["a"]
    assert read_run_summary(str(tmp_path / "run")) is None  # no summary.json: fine
    (tmp_path / "run" / "summary.json").write_text('{"wall_seconds": 3.0}')
    assert read_run_summary(str(tmp_path / "run" / "results.parquet")) == {"wall_seconds": 3.0}
