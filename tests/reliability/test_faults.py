"""Faults during a catalog run: a render worker killed, the object store going away and coming
back, the object store answering with server errors.

Each test runs the job as a user does (``python -m jobs.dub_catalog`` in its own process, with its
own local Ray under a private ``RAY_TMPDIR``, so only that Ray's processes are looked at, killed or
cleaned up) and then checks what a fault must never cost:

- every item ends ok, or failed with a reason, in the run's results manifest (one row per item);
- nothing partial or temporary at the output paths (only finished videos, besides ``_lipdub``);
- a rerun does only what was left: finished outputs stay untouched (same mtime, same S3 ETag).
"""
from __future__ import annotations

import http.client
import http.server
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pyarrow.parquet as pq
import pytest

from lipdub.catalog import write_catalog
from lipdub.media.probe import probe_video
from lipdub.results import read_results
from tests.ray_processes import processes_with_env, stop_processes_with_env

ROOT = Path(__file__).resolve().parents[2]
ITEMS = [f"clip-{n}" for n in range(3)]
JOB_TIMEOUT_S = 400  # a hang detector: one run takes one to two minutes on a busy 2-core machine
# Short render segments: several render tasks per item, so there is render work to kill and
# object-store traffic (segments up, segments down) while the store is away.
SHORT_SEGMENTS = "render: {segment_seconds: 1.0}\n"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds its Ray processes through /proc"),
]


# --- running the job ----------------------------------------------------------------------------


@pytest.fixture
def ray_root() -> Iterator[str]:
    """A private Ray temp root for the job's Ray (short: unix socket paths stay under 108 bytes);
    afterwards every process carrying it is stopped, and only those."""
    folder = tempfile.mkdtemp(prefix="lipdub-flt-", dir="/tmp")
    yield folder
    stop_processes_with_env("RAY_TMPDIR", folder)
    shutil.rmtree(folder, ignore_errors=True)


class CatalogJob:
    """``python -m jobs.dub_catalog`` in its own session; its log goes to a file we can watch."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self.env = env
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jobs.dub_catalog", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
            stderr=log_path.open("w"), text=True, start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout_s: float = JOB_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.log():
            assert self.process.poll() is None, f"the job ended before logging {text!r}:\n{self.log()[-4000:]}"
            assert time.monotonic() < deadline, f"no {text!r} in the job's log after {timeout_s} s:\n{self.log()[-4000:]}"
            time.sleep(0.05)

    def finish(self, timeout_s: float = JOB_TIMEOUT_S) -> tuple[int, dict[str, Any]]:
        """Wait for the job; return its exit code and the summary it printed."""
        try:
            out, _ = self.process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            stop_processes_with_env("RAY_TMPDIR", self.env["RAY_TMPDIR"])
            self.process.communicate(timeout=30)
            pytest.fail(f"the job took over {timeout_s} s:\n{self.log()[-4000:]}")
        start = out.find("{")
        return self.process.returncode, (json.loads(out[start:]) if start >= 0 else {})


def job_env(ray_root: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ, RAY_TMPDIR=ray_root, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_AUTH_MODE="disabled", PYTHONUNBUFFERED="1", **extra)
    env.pop("RAY_ADDRESS", None)
    return env


def catalog_rows(video_uri: str, audio_uri_of) -> list[dict[str, str]]:
    return [{"item_id": item, "video_uri": video_uri, "audio_uri": audio_uri_of(item), "language": "de"} for item in ITEMS]


def check_manifest(rows: list[dict[str, Any]], storage_error: re.Pattern[str] | None = None) -> dict[str, dict[str, Any]]:
    """One row per item, each ok or failed with a reason (matching `storage_error` when given)."""
    by_item = {row["item_id"]: row for row in rows}
    assert sorted(row["item_id"] for row in rows) == ITEMS, [row["item_id"] for row in rows]
    for item, row in by_item.items():
        assert row["status"] in ("ok", "failed"), (item, row["status"], row["error"])
        if row["status"] == "failed":
            assert row["error"] and row["failed_stage"], row
            if storage_error is not None:
                assert storage_error.search(row["error"]), row["error"]
    return by_item


def planned_frames(rows: dict[str, dict[str, Any]]) -> dict[str, int | None]:
    return {item: row["n_output_frames"] if row["status"] == "ok" else None for item, row in rows.items()}


def check_parts_hold_each_item_once(part_tables: list[list[dict[str, Any]]]) -> None:
    """The run's results parts (what a rerun reads) record no item twice."""
    recorded = [row["item_id"] for rows in part_tables for row in rows]
    assert len(recorded) == len(set(recorded)), recorded


# --- 1. a render worker killed mid-run ----------------------------------------------------------


def _ray_title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


def kill_a_render_worker(job: CatalogJob, ray_root: str, into_task_s: float = 0.3) -> tuple[int, str] | None:
    """Watch the job's Ray for a worker running a render task and SIGKILL it `into_task_s` after
    it was first seen at it (mid-segment: one takes about a second), once."""
    while job.process.poll() is None:
        for pid in processes_with_env("RAY_TMPDIR", ray_root):
            title = _ray_title(pid)
            if title.startswith("ray::") and "render_task" in title:
                time.sleep(into_task_s)
                if _ray_title(pid) == title:  # still rendering
                    os.kill(pid, signal.SIGKILL)
                    return pid, title
        time.sleep(0.05)
    return None


@pytest.mark.long
def test_render_worker_killed_mid_run(tmp_path, demo_inputs, ray_root):
    source, dub = demo_inputs
    for item in ITEMS:
        shutil.copy(dub, tmp_path / f"{item}.wav")
    catalog = tmp_path / "catalog.parquet"
    write_catalog(catalog_rows(str(source), lambda item: str(tmp_path / f"{item}.wav")), str(catalog))
    (tmp_path / "config.yaml").write_text(SHORT_SEGMENTS)
    out = tmp_path / "out"
    args = ["--catalog", str(catalog), "--output-root", str(out), "--work-root", str(tmp_path / "work"), "--config", str(tmp_path / "config.yaml")]

    job = CatalogJob(args, job_env(ray_root), tmp_path / "run1.log")
    killed = kill_a_render_worker(job, ray_root)
    code, summary = job.finish()
    assert code in (0, 3), job.log()[-4000:]
    assert killed is not None, f"no render worker seen before the job ended:\n{job.log()[-4000:]}"
    print(f"killed {killed}")  # noqa: T201

    # Ray retries a task whose worker died: every item comes out, ok (or failed with a reason).
    rows = check_manifest(read_results(summary["results_uri"]))
    run_dir = Path(summary["results_uri"]).parent
    check_parts_hold_each_item_once([pq.read_table(part).to_pylist() for part in sorted(run_dir.glob("part-*.parquet"))])
    assert all(row["status"] == "ok" for row in rows.values()), {item: row["error"] for item, row in rows.items()}
    # Only finished videos under the output root: no temporaries, no duplicates.
    files = sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file() and "_lipdub" not in path.parts)
    assert files == [f"de/{item}.mp4" for item in ITEMS], files
    mtimes = {}
    for item, row in rows.items():
        output = out / "de" / f"{item}.mp4"
        assert probe_video(str(output)).n_frames == row["n_output_frames"] > 0
        mtimes[item] = output.stat().st_mtime_ns

    rerun = CatalogJob(args, job_env(ray_root), tmp_path / "run2.log")
    code, again = rerun.finish()
    assert code == 0, rerun.log()[-4000:]
    assert (again["skipped"], again["ok"], again["plan_reasons"]) == (len(ITEMS), 0, {"unchanged": len(ITEMS)}), again
    assert {item: (out / "de" / f"{item}.mp4").stat().st_mtime_ns for item in ITEMS} == mtimes


# --- an S3-compatible server (moto) that can go away and come back on the same port --------------


def _free_loopback_port() -> int:
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    except OSError:
        pytest.skip("cannot bind to 127.0.0.1")


class RestartableS3:
    """moto's S3 server on a fixed 127.0.0.1 port. moto keeps its buckets per process, not per
    server, so a server started again on the same port serves the same objects."""

    def __init__(self) -> None:
        self.moto_server = pytest.importorskip("moto.server")
        self.port = _free_loopback_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.server = None

    def start(self) -> None:
        self.server = self.moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture
def s3_store(monkeypatch) -> Iterator[RestartableS3]:
    """A fresh moto S3 server with an empty bucket ``lipdub``; lipdub's s3:// filesystem in this
    process points at it."""
    boto3 = pytest.importorskip("boto3")
    from lipdub.storage import configure_filesystem

    for var, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(var, value)  # for the local fake server only (moto accepts anything)
    store = RestartableS3()
    store.start()
    try:
        urllib.request.urlopen(urllib.request.Request(f"{store.endpoint}/moto-api/reset", method="POST")).close()
        boto3.client("s3", endpoint_url=store.endpoint, region_name="us-east-1").create_bucket(Bucket="lipdub")
        configure_filesystem("s3", key="test", secret="test", endpoint_url=store.endpoint, skip_instance_cache=True)
        yield store
    finally:
        configure_filesystem("s3")
        store.stop()


def s3_env(ray_root: str, endpoint: str, tmp_path: Path) -> dict[str, str]:
    return job_env(
        ray_root, LIPDUB_S3_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION="us-east-1", LIPDUB_NODE_CACHE=str(tmp_path / "node-cache"),
    )


def put_s3_catalog(tmp_path: Path, demo_inputs) -> list[str]:
    """Media and catalog in the bucket; returns the job's arguments (config stays local)."""
    from lipdub.storage import filesystem_for

    fs = filesystem_for("s3://lipdub")
    source, dub = demo_inputs
    fs.put(str(source), "lipdub/media/source.mp4")
    for item in ITEMS:
        fs.put(str(dub), f"lipdub/media/{item}.wav")
    write_catalog(catalog_rows("s3://lipdub/media/source.mp4", lambda item: f"s3://lipdub/media/{item}.wav"), "s3://lipdub/catalog/part-0.parquet")
    (tmp_path / "config.yaml").write_text(SHORT_SEGMENTS)
    return ["--catalog", "s3://lipdub/catalog/", "--output-root", "s3://lipdub/dubbed", "--work-root", "s3://lipdub/work", "--config", str(tmp_path / "config.yaml")]


def s3_outputs(tmp_path: Path, must_exist: set[str], expected_frames: dict[str, int | None]) -> dict[str, tuple[str, Any]]:
    """Every object under the output root but the run records, each checked to be a whole video
    (with the planned frame count where one is known); returns key -> (ETag, LastModified)."""
    from lipdub.storage import filesystem_for

    fs = filesystem_for("s3://lipdub")
    fs.invalidate_cache()
    keys = sorted(key for key in fs.find("lipdub/dubbed") if "/_lipdub/" not in key)
    found = {key.rsplit("/", 1)[-1].removesuffix(".mp4"): key for key in keys}
    assert keys == sorted(f"lipdub/dubbed/de/{item}.mp4" for item in found) and set(found) <= set(ITEMS), keys  # nothing partial beside them
    assert must_exist <= set(found), (must_exist, keys)
    stamps = {}
    for item, key in found.items():
        local = tmp_path / "downloaded" / f"{item}.mp4"
        local.parent.mkdir(exist_ok=True)
        fs.get(key, str(local))
        frames = probe_video(str(local)).n_frames
        assert frames > 0 and frames == (expected_frames.get(item) or frames), (key, frames, expected_frames.get(item))
        info = fs.info(key)
        stamps[item] = (info["ETag"], info["LastModified"])
    return stamps


def s3_parts(results_uri: str) -> list[list[dict[str, Any]]]:
    from lipdub.storage import filesystem_for

    fs = filesystem_for(results_uri)
    run_dir = fs._strip_protocol(results_uri).rsplit("/", 1)[0]
    fs.invalidate_cache()
    tables = []
    for key in sorted(fs.find(run_dir)):
        if key.rsplit("/", 1)[-1].startswith("part-"):
            with fs.open(key, "rb") as handle:
                tables.append(pq.read_table(handle).to_pylist())
    return tables


def check_rerun_skips_finished(again: dict[str, Any], first: dict[str, dict[str, Any]], stamps_before: dict[str, tuple[str, Any]], tmp_path: Path) -> None:
    """The rerun finished everything, redid nothing that was finished, and touched no finished output.
    (An item recorded as failed is redone even if an object sits at its output key.)"""
    finished = {item for item, row in first.items() if row["status"] == "ok"}
    assert (again["ok"], again["skipped"], again["failed"], again["pending"]) == (len(ITEMS) - len(finished), len(finished), 0, 0), again
    assert again["plan_reasons"].get("unchanged", 0) == len(finished), again
    rows = {row["item_id"]: row for row in read_results(again["results_uri"])}
    assert sorted(rows) == ITEMS and {item for item, row in rows.items() if row["status"] == "skipped"} == finished, rows
    planned = {item: (rows[item] if rows[item]["status"] == "ok" else first[item])["n_output_frames"] for item in ITEMS}
    stamps_after = s3_outputs(tmp_path, set(ITEMS), planned)
    for item in finished:
        assert stamps_after[item] == stamps_before[item], item  # same ETag and LastModified: not written again


def test_results_writer_keeps_rows_while_the_store_is_away(s3_store):
    """The results writer alone, fast: a part that cannot be written mid-run is kept, not raised;
    closing waits for the store to come back and then records every row exactly once."""
    from lipdub.results import ResultsWriter

    writer = ResultsWriter("s3://lipdub/state", "run-outage", flush_seconds=0.0)  # flush on every row
    writer.add({"item_id": "before", "status": "ok"})
    s3_store.stop()
    writer.add({"item_id": "during", "status": "failed", "failed_stage": "render", "error": "boom"})  # must not raise
    threading.Timer(3.0, s3_store.start).start()
    summary = writer.close(catalog_uri="catalog", pending=[{"item_id": "never"}], wall_seconds=1.0, plan_reasons={}, retry_seconds=60)
    assert (summary.ok, summary.failed, summary.pending) == (1, 1, 1)
    assert sorted(row["item_id"] for row in read_results(summary.results_uri)) == ["before", "during", "never"]
    parts = s3_parts(summary.results_uri)
    check_parts_hold_each_item_once(parts)
    assert sorted(row["item_id"] for rows in parts for row in rows) == ["before", "during"]


def test_results_go_to_a_local_folder_when_the_store_stays_away(s3_store, tmp_path):
    """The store goes away mid-run and is still away when the run ends: after the retry window the
    run's records are written to a local folder, the error says where, `lipdub report` reads that
    folder, and copying it into the run folder once the store is back restores the run."""
    from typer.testing import CliRunner

    from jobs.cli import app
    from lipdub.results import FALLBACK_NOTE, ResultsKeptLocally, ResultsWriter
    from lipdub.run_state import read_previous_results
    from lipdub.storage import filesystem_for

    writer = ResultsWriter("s3://lipdub/state", "run-lost", flush_seconds=0.0, fallback_root=str(tmp_path / "fallback"))
    writer.add({"item_id": "before", "status": "ok"})  # recorded in part 0 while the store is up
    s3_store.stop()
    writer.add({"item_id": "during", "status": "failed", "failed_stage": "render", "error": "boom"})  # kept in memory
    with pytest.raises(ResultsKeptLocally) as caught:
        writer.close(catalog_uri="catalog", pending=[{"item_id": "never"}], wall_seconds=1.0, plan_reasons={}, retry_seconds=1)

    folder = tmp_path / "fallback" / "run-lost"
    message = str(caught.value)
    assert caught.value.folder == str(folder) and f"kept its 3 items locally in {folder}" in message
    assert f"lipdub report {folder}" in message and "s3://lipdub/state/runs/run-lost" in message and "EndpointConnectionError" in message
    # The part the store never got (numbered as it would have been), the manifest, the summary, a note.
    assert sorted(path.name for path in folder.iterdir()) == [FALLBACK_NOTE, "part-00001.parquet", "results.parquet", "summary.json"]
    assert json.loads((folder / FALLBACK_NOTE).read_text())["belongs_at"] == "s3://lipdub/state/runs/run-lost"
    kept = read_results(str(folder))
    assert kept.finished and {row["item_id"]: row["status"] for row in kept} == {"before": "ok", "during": "failed", "never": "pending"}

    report = CliRunner().invoke(app, ["report", str(folder), "--out", str(tmp_path / "report.html")])
    assert report.exit_code == 0, report.output
    assert '"items": 3' in report.output and '"run_finished": true' in report.output

    s3_store.start()
    fs = filesystem_for("s3://lipdub")
    for path in folder.iterdir():
        fs.put_file(str(path), f"lipdub/state/runs/run-lost/{path.name}")
    restored = read_results("s3://lipdub/state/runs/run-lost")
    assert restored.finished and sorted(row["item_id"] for row in restored) == ["before", "during", "never"]
    assert {item: row["status"] for item, row in read_previous_results("s3://lipdub/state").items()} == {"before": "ok", "during": "failed"}


# --- 2. the S3 server going away mid-run and coming back ----------------------------------------

OUTAGE_S = 20.0  # longer than botocore's own retries (about 10 s), so some requests do fail
STORAGE_ERROR = re.compile(r"connect|endpoint|unreachable|timed? ?out|connection", re.IGNORECASE)


@pytest.mark.long
def test_object_store_down_mid_run_and_back(tmp_path, demo_inputs, ray_root, s3_store):
    from lipdub.storage import filesystem_for

    args = put_s3_catalog(tmp_path, demo_inputs)
    env = s3_env(ray_root, s3_store.endpoint, tmp_path)

    job = CatalogJob(args, env, tmp_path / "run1.log")
    job.wait_for_log(f"[1/{len(ITEMS)}]")  # the first item's result: the others are under way
    s3_store.stop()
    time.sleep(OUTAGE_S)
    s3_store.start()
    fs = filesystem_for("s3://lipdub")
    fs.invalidate_cache()
    assert fs.exists("lipdub/media/source.mp4"), "moto lost its objects over the restart"
    code, summary = job.finish()
    # The job survives the outage: it finishes and records every item (fails some at worst).
    assert code in (0, 3) and summary, job.log()[-4000:]

    first = check_manifest(read_results(summary["results_uri"]), STORAGE_ERROR)
    check_parts_hold_each_item_once(s3_parts(summary["results_uri"]))
    stamps = s3_outputs(tmp_path, {item for item, row in first.items() if row["status"] == "ok"}, planned_frames(first))

    rerun = CatalogJob(args, env, tmp_path / "run2.log")
    code, again = rerun.finish()
    assert code == 0, rerun.log()[-4000:]
    check_rerun_skips_finished(again, first, stamps, tmp_path)
    print(f"outage: {json.dumps({item: row['status'] for item, row in first.items()})}; rerun {again['plan_reasons']}")  # noqa: T201


# --- 3. the S3 server answering some requests with 500 / 503 ------------------------------------


class FlakyProxy(http.server.ThreadingHTTPServer):
    """An HTTP proxy on 127.0.0.1 in front of an S3 server that answers every `every`-th request
    with an S3 error (503 SlowDown or 500 InternalError) instead of forwarding it, but never
    the same request more than `max_in_a_row` times running: transient errors, which clients
    must retry (botocore makes up to 5 attempts)."""

    daemon_threads = True

    def __init__(self, upstream_port: int, every: int = 5, max_in_a_row: int = 2) -> None:
        super().__init__(("127.0.0.1", 0), _FlakyHandler)
        self.upstream_port = upstream_port
        self.every = every
        self.max_in_a_row = max_in_a_row
        self.counter = itertools.count(1)
        self.failed_in_a_row: dict[tuple[str, str], int] = {}
        self.injected = 0
        self.forwarded = 0
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def should_fail(self, method: str, path: str) -> bool:
        with self.lock:
            key = (method, path)
            fail = next(self.counter) % self.every == 0 and self.failed_in_a_row.get(key, 0) < self.max_in_a_row
            self.failed_in_a_row[key] = self.failed_in_a_row.get(key, 0) + 1 if fail else 0
            if fail:
                self.injected += 1
            else:
                self.forwarded += 1
            return fail


class _FlakyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FlakyProxy
    _HOP_BY_HOP: ClassVar[set[str]] = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        body = self._body()  # read it all first: the client must see an answer, not a reset
        if self.server.should_fail(self.command, self.path):
            status, code = (503, "SlowDown") if self.server.injected % 2 else (500, "InternalError")
            payload = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>injected by the test</Message></Error>'.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload) if self.command != "HEAD" else 0))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            return
        headers = {name: value for name, value in self.headers.items() if name.lower() not in self._HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=60)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
            self.send_response(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in self._HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            length = response.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
            self.send_header("Content-Length", length or "0")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        finally:
            upstream.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


@pytest.fixture
def flaky_proxy(s3_store) -> Iterator[FlakyProxy]:
    proxy = FlakyProxy(s3_store.port)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()


@pytest.mark.long
def test_object_store_server_errors_are_retried(tmp_path, demo_inputs, ray_root, flaky_proxy):
    args = put_s3_catalog(tmp_path, demo_inputs)  # set up straight through moto
    env = s3_env(ray_root, flaky_proxy.endpoint, tmp_path)  # the job talks through the proxy

    job = CatalogJob(args, env, tmp_path / "run1.log")
    code, summary = job.finish()
    assert code == 0, job.log()[-4000:]
    assert flaky_proxy.injected >= 10, (flaky_proxy.injected, flaky_proxy.forwarded)
    first = check_manifest(read_results(summary["results_uri"]))
    assert all(row["status"] == "ok" for row in first.values()), {item: row["error"] for item, row in first.items()}
    check_parts_hold_each_item_once(s3_parts(summary["results_uri"]))
    stamps = s3_outputs(tmp_path, {item for item, row in first.items() if row["status"] == "ok"}, planned_frames(first))

    injected_before = flaky_proxy.injected
    rerun = CatalogJob(args, env, tmp_path / "run2.log")  # still through the proxy: the plan reads under errors too
    code, again = rerun.finish()
    assert code == 0, rerun.log()[-4000:]
    assert flaky_proxy.injected > injected_before
    check_rerun_skips_finished(again, first, stamps, tmp_path)
    print(f"server errors injected: {flaky_proxy.injected} of {flaky_proxy.injected + flaky_proxy.forwarded} requests")  # noqa: T201
