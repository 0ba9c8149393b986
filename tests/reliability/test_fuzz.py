"""Property-based fuzzing of the two doors bad data comes through: the catalog reader and the
media probe. Random bytes and random tables must never crash the process; they yield clear errors
(`CatalogError` for a catalog, `InputError` for media) or, for a readable catalog, rows that are
each pending or failed with a reason."""
from __future__ import annotations

import csv
import io
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lipdub.catalog import CatalogError, read_catalog
from lipdub.errors import InputError
from lipdub.item_row import CATALOG_COLUMNS, OPTIONAL_CATALOG_COLUMNS
from lipdub.media.probe import probe_audio, probe_video
from lipdub.media.video_writer import VideoWriter

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
COLUMN_NAMES = st.sampled_from(CATALOG_COLUMNS + OPTIONAL_CATALOG_COLUMNS + ("video", "notes", "", "item id", "ÄÖ"))
CELLS = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["loop", "bounce", "sideways", "12,34", "x,y", "s3://b/k.mp4", "../a.wav"]))


def _check_catalog(uri: str) -> None:
    try:
        catalog = read_catalog(uri, output_root="/tmp/lipdub-fuzz-out")
    except CatalogError as error:
        assert str(error).strip(), "a catalog error needs a message"
        return
    for row in catalog.rows:
        assert row["status"] in ("pending", "failed")
        if row["status"] == "failed":
            assert row["failed_stage"] == "catalog" and row["error"]
        else:
            assert row["item_id"] and row["video_uri"] and row["audio_uri"] and row["output_uri"]


@FUZZ
@given(data=st.binary(max_size=4000), suffix=st.sampled_from([".csv", ".parquet"]))
def test_random_bytes_as_a_catalog(data, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"catalog{suffix}"
        path.write_bytes(data)
        _check_catalog(str(path))


@FUZZ
@given(
    columns=st.lists(COLUMN_NAMES, min_size=0, max_size=9, unique=True),
    n_rows=st.integers(0, 6),
    data=st.data(),
    as_csv=st.booleans(),
)
def test_random_tables_as_a_catalog(columns, n_rows, data, as_csv):
    table = pa.table({name: pa.array([data.draw(CELLS) for _ in range(n_rows)], pa.string()) for name in columns})
    with tempfile.TemporaryDirectory() as folder:
        if as_csv:
            path = Path(folder) / "catalog.csv"
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(columns)
            writer.writerows([row[name] or "" for name in columns] for row in table.to_pylist())
            path.write_text(buffer.getvalue())
        else:
            path = Path(folder) / "catalog.parquet"
            pq.write_table(table, path)
        _check_catalog(str(path))


@pytest.fixture(scope="module")
def small_mp4(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("fuzz") / "small.mp4"
    with VideoWriter(str(path), 64, 48, Fraction(25)) as writer:
        for index in range(12):
            writer.write(np.full((48, 64, 3), index * 20, np.uint8))
    return path.read_bytes()


def _check_probe(path: Path) -> None:
    for probe in (probe_video, probe_audio):
        try:
            probe(path)
        except InputError as error:
            message = str(error)
            assert message and "\n" not in message
            assert "Traceback" not in message


@FUZZ
@given(data=st.binary(max_size=20000), suffix=st.sampled_from([".mp4", ".wav", ".mov", ".mkv", ""]))
def test_random_bytes_as_media(data, suffix, tmp_path):
    path = tmp_path / f"input{suffix}"
    path.write_bytes(data)
    _check_probe(path)


@FUZZ
@given(data=st.data())
def test_damaged_real_videos(small_mp4, data, tmp_path):
    """A real H.264 mp4 with random bytes overwritten, cut short or both."""
    damaged = bytearray(small_mp4)
    for _ in range(data.draw(st.integers(0, 8))):
        at = data.draw(st.integers(0, len(damaged) - 1))
        damaged[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(damaged)))
    path = tmp_path / "damaged.mp4"
    path.write_bytes(bytes(damaged[:cut]))
    _check_probe(path)
