import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lipdub.catalog import CatalogError, read_catalog, resolve_uri, write_catalog


def _write_csv(path, text):
    path.write_text(text)
    return str(path)


def test_csv_catalog_resolves_relative_uris_and_default_outputs(tmp_path):
    uri = _write_csv(
        tmp_path / "catalog.csv",
        "item_id,video_uri,audio_uri,language,notes\n"
        "007,clips/a.mp4,dubs/a-de.wav,de,keep me as text\n"
        "b,/abs/b.mp4,s3://bucket/b.wav,fr,\n",
    )
    catalog = read_catalog(uri, output_root="s3://out/dubbed")
    first, second = catalog.rows
    assert first["item_id"] == "007"  # ids stay text
    assert first["video_uri"] == str(tmp_path / "clips" / "a.mp4")
    assert first["audio_uri"] == str(tmp_path / "dubs" / "a-de.wav")
    assert first["output_uri"] == "s3://out/dubbed/de/007.mp4"
    assert second["video_uri"] == "/abs/b.mp4" and second["audio_uri"] == "s3://bucket/b.wav"
    assert {row["status"] for row in catalog.rows} == {"pending"}


def test_parquet_prefix_reads_every_file_and_skips_hidden_ones(tmp_path):
    folder = tmp_path / "catalog"
    write_catalog([{"item_id": "a", "video_uri": "/v/a.mp4", "audio_uri": "/a/a.wav", "language": "de"}], str(folder / "part-0.parquet"))
    write_catalog([{"item_id": "b", "video_uri": "/v/b.mp4", "audio_uri": "/a/b.wav", "language": "ja", "output_uri": "/o/b.mp4"}], str(folder / "part-1.parquet"))
    write_catalog([{"item_id": "zz", "video_uri": "/v", "audio_uri": "/a", "language": "x"}], str(folder / "_lipdub" / "part-9.parquet"))
    catalog = read_catalog(str(folder), output_root=str(tmp_path / "out"))
    assert [row["item_id"] for row in catalog.rows] == ["a", "b"]
    assert catalog.rows[1]["output_uri"] == "/o/b.mp4"


def test_missing_column_stops_with_a_clear_message(tmp_path):
    uri = _write_csv(tmp_path / "c.csv", "item_id,video,audio_uri,language\na,x.mp4,y.wav,de\n")
    with pytest.raises(CatalogError, match=r"lacks required column\(s\) video_uri.*it has item_id, video, audio_uri, language"):
        read_catalog(uri, output_root=str(tmp_path))


def test_duplicate_item_ids_stop_the_run(tmp_path):
    uri = _write_csv(tmp_path / "c.csv", "item_id,video_uri,audio_uri,language\na,x.mp4,y.wav,de\na,x.mp4,z.wav,fr\n")
    with pytest.raises(CatalogError, match="duplicate item_id.*'a'"):
        read_catalog(uri, output_root=str(tmp_path))


def test_empty_item_id_stops_the_run(tmp_path):
    uri = _write_csv(tmp_path / "c.csv", "item_id,video_uri,audio_uri,language\n,x.mp4,y.wav,de\n")
    with pytest.raises(CatalogError, match="no item_id"):
        read_catalog(uri, output_root=str(tmp_path))


def test_bad_rows_fail_alone_with_reasons(tmp_path):
    uri = _write_csv(
        tmp_path / "c.csv",
        "item_id,video_uri,audio_uri,language,sync_mode,speaker_point\n"
        "good,v.mp4,a.wav,de,loop,\n"
        "mode,v.mp4,a.wav,de,sideways,\n"
        "novideo,,a.wav,de,,\n"
        "point,v.mp4,a.wav,de,,left\n",
    )
    rows = {row["item_id"]: row for row in read_catalog(uri, output_root=str(tmp_path / "out")).rows}
    assert rows["good"]["status"] == "pending"
    assert rows["mode"]["status"] == "failed" and "unknown sync_mode 'sideways'" in rows["mode"]["error"]
    assert rows["novideo"]["failed_stage"] == "catalog" and "no video_uri" in rows["novideo"]["error"]
    assert "speaker_point must be X,Y" in rows["point"]["error"]


def test_a_row_names_its_output_format(tmp_path):
    uri = _write_csv(
        tmp_path / "c.csv",
        "item_id,video_uri,audio_uri,language,output_uri,video_codec\n"
        "mezzanine,v.mp4,a.wav,de,,prores\n"
        "web,v.mp4,a.wav,de,,\n"
        "vp9,v.mp4,a.wav,de,,vp9\n"
        "avi,v.mp4,a.wav,de,out/a.avi,\n",
    )
    rows = {row["item_id"]: row for row in read_catalog(uri, output_root=str(tmp_path / "out")).rows}
    assert rows["mezzanine"]["status"] == "pending" and rows["mezzanine"]["output_uri"].endswith("de/mezzanine.mov")
    assert rows["mezzanine"]["video_codec"] == "prores"
    assert rows["web"]["output_uri"].endswith("de/web.mp4")
    assert "unknown video_codec 'vp9'" in rows["vp9"]["error"]
    assert "must end in .mp4, .mov or .mkv" in rows["avi"]["error"]


def test_no_output_anywhere_fails_the_row(tmp_path):
    uri = _write_csv(tmp_path / "c.csv", "item_id,video_uri,audio_uri,language\na,v.mp4,a.wav,de\n")
    (row,) = read_catalog(uri).rows
    assert row["status"] == "failed" and "--output-root" in row["error"]


def test_unreadable_or_missing_catalog(tmp_path):
    with pytest.raises(CatalogError, match="does not exist"):
        read_catalog(str(tmp_path / "nope.parquet"))
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(CatalogError, match="cannot read catalog file"):
        read_catalog(str(tmp_path / "junk.parquet"))


def test_non_string_parquet_columns_become_text(tmp_path):
    table = pa.table({"item_id": [1, 2], "video_uri": ["/v1.mp4", "/v2.mp4"], "audio_uri": ["/a1", "/a2"], "language": ["de", "fr"]})
    pq.write_table(table, tmp_path / "c.parquet")
    rows = read_catalog(str(tmp_path / "c.parquet"), output_root="/out").rows
    assert [row["item_id"] for row in rows] == ["1", "2"]


def test_non_ascii_item_ids_get_safe_output_names(tmp_path):
    uri = _write_csv(tmp_path / "c.csv", "item_id,video_uri,audio_uri,language\nÉpisode 1/ä,v.mp4,a.wav,de\n")
    (row,) = read_catalog(uri, output_root="/out").rows
    name = row["output_uri"].rsplit("/", 1)[-1]
    assert name.endswith(".mp4") and name.isascii() and " " not in name and "/" not in name


def test_resolve_uri_against_a_bucket():
    assert resolve_uri("clips/a.mp4", "s3://b/catalog") == "s3://b/catalog/clips/a.mp4"
    assert resolve_uri("s3://x/y.mp4", "s3://b/catalog") == "s3://x/y.mp4"
