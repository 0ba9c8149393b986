"""Webhook signing and delivery against a real HTTP receiver on 127.0.0.1."""
from __future__ import annotations

import logging
import math
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from lipdub.api.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    deliver,
    delivered,
    encode_payload,
    sign,
    signature_header,
    verify,
)

SECRET = "whsec-test-1"
PAYLOAD = {"dub_id": "d-42", "status": "completed", "output_uri": "s3://media/dub/x.mp4"}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A scripted receiver: answers each POST with the next status of `statuses` (then 200)."""

    url: str
    statuses: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    requests: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append(Received(self.path, dict(self.headers), body))
            status = state.statuses.pop(0) if state.statuses else 200
            if state.delay_s:
                state.release.wait(state.delay_s)
            try:
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", f"{state.url.rsplit('/', 1)[0]}/second")
                self.send_header("Content-Length", "0")
                self.end_headers()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and went away: that is what the test wanted

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


class Sleeps(list):
    """Records the backoff delays instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# --- signing ----------------------------------------------------------------------------------

def test_payload_encoding_is_compact_sorted_and_refuses_nan() -> None:
    assert encode_payload({"b": 1, "a": [1, "é"]}) == b'{"a":[1,"\\u00e9"],"b":1}'
    with pytest.raises(ValueError):
        encode_payload({"score": math.nan})


def test_signature_header_verifies_and_signs_the_timestamp() -> None:
    body, now = encode_payload(PAYLOAD), 1_700_000_000
    header = signature_header(body, SECRET, now)
    assert header == f"t={now},v1={sign(body, SECRET, now)}" and len(sign(body, SECRET, now)) == 64
    assert verify(body, header, SECRET, now=now + 10)
    replayed = header.replace(f"t={now}", f"t={now + 100}")  # same signature, fresh timestamp
    assert not verify(body, replayed, SECRET, now=now + 100)


def test_tampered_body_wrong_secret_and_stale_timestamps_fail() -> None:
    body, now = encode_payload(PAYLOAD), 1_700_000_000
    header = signature_header(body, SECRET, now)
    assert not verify(body.replace(b"d-42", b"d-43"), header, SECRET, now=now)
    assert not verify(body, header, "whsec-other", now=now)
    assert not verify(body, header, "", now=now)
    assert not verify(body, header, SECRET, now=now + 301)  # too old
    assert not verify(body, header, SECRET, now=now - 301)  # from the future
    assert verify(body, header, SECRET, now=now + 301, tolerance_s=600)


@pytest.mark.parametrize("header", [
    None, "", "garbage", "t=1700000000", "v1=" + "0" * 64, "t=abc,v1=" + "0" * 64,
    "t=1700000000,v1=nothex", "t=1700000000,v1=" + "é" * 64, "t=1700000000;v1=" + "0" * 64,
    "t=1700000000,t=1700000001,v1=" + "0" * 64, "t=1700000000,v2=" + "0" * 64, "t=-5,v1=" + "0" * 64,
])
def test_malformed_headers_fail_without_raising(header: str | None) -> None:
    assert not verify(b"{}", header, SECRET, now=1_700_000_000)


def test_signing_with_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        sign(b"{}", "", 1)


# --- delivery ---------------------------------------------------------------------------------

def test_a_delivery_is_signed_and_labelled(receiver: Receiver) -> None:
    attempts = deliver(receiver.url, PAYLOAD, SECRET, event="dub.completed", sleep=Sleeps())
    assert delivered(attempts) and len(attempts) == 1
    assert (attempts[0].attempt, attempts[0].status_code, attempts[0].error) == (1, 200, None)
    datetime.fromisoformat(attempts[0].at)  # ISO 8601
    assert set(attempts[0].to_json()) == {"attempt", "at", "status_code", "error", "seconds"}
    (request,) = receiver.requests
    assert request.path == "/hook" and request.body == encode_payload(PAYLOAD)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers[EVENT_HEADER] == "dub.completed"
    assert len(request.headers[DELIVERY_HEADER]) == 32
    assert verify(request.body, request.headers[SIGNATURE_HEADER], SECRET)
    assert not verify(request.body, request.headers[SIGNATURE_HEADER], "whsec-other")


def test_server_errors_are_retried_with_the_same_delivery_id(receiver: Receiver, caplog) -> None:
    receiver.statuses = [500, 500, 200]
    sleeps = Sleeps()
    with caplog.at_level(logging.INFO, logger="lipdub.api.webhooks"):
        attempts = deliver(receiver.url, PAYLOAD, SECRET, event="dub.completed", sleep=sleeps)
    assert [a.status_code for a in attempts] == [500, 500, 200]
    assert [a.error for a in attempts] == ["HTTP 500", "HTTP 500", None] and delivered(attempts)
    assert [a.attempt for a in attempts] == [1, 2, 3] and len(sleeps) == 2
    assert len({r.headers[DELIVERY_HEADER] for r in receiver.requests}) == 1
    stamps = [int(r.headers[SIGNATURE_HEADER].split(",")[0][2:]) for r in receiver.requests]
    assert stamps == sorted(stamps)
    assert all(verify(r.body, r.headers[SIGNATURE_HEADER], SECRET) for r in receiver.requests)
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING", "INFO"]


def test_too_many_requests_is_retried(receiver: Receiver) -> None:
    receiver.statuses = [429, 204]
    attempts = deliver(receiver.url, PAYLOAD, SECRET, event="dub.failed", sleep=Sleeps())
    assert [a.status_code for a in attempts] == [429, 204] and delivered(attempts)


def test_client_errors_are_not_retried(receiver: Receiver) -> None:
    receiver.statuses = [400, 200]
    sleeps = Sleeps()
    attempts = deliver(receiver.url, PAYLOAD, SECRET, event="dub.completed", sleep=sleeps)
    assert [(a.status_code, a.error) for a in attempts] == [(400, "HTTP 400")]
    assert not delivered(attempts) and sleeps == [] and len(receiver.requests) == 1


def test_redirects_are_failures_and_never_followed(receiver: Receiver) -> None:
    receiver.statuses = [302]
    attempts = deliver(receiver.url, PAYLOAD, SECRET, event="dub.completed", sleep=Sleeps())
    assert [(a.status_code, a.error) for a in attempts] == [(302, "HTTP 302")]
    assert not delivered(attempts)
    assert [r.path for r in receiver.requests] == ["/hook"]  # /second was never requested


def test_connection_refused_uses_every_attempt_without_raising(closed_port_url: str) -> None:
    sleeps = Sleeps()
    attempts = deliver(closed_port_url, PAYLOAD, SECRET, event="dub.completed", attempts=3, sleep=sleeps)
    assert [a.attempt for a in attempts] == [1, 2, 3] and not delivered(attempts)
    assert all(a.status_code is None and a.error == "connection refused" for a in attempts)
    assert len(sleeps) == 2


def test_backoff_grows_exponentially_and_is_capped(closed_port_url: str) -> None:
    sleeps = Sleeps()
    deliver(closed_port_url, PAYLOAD, SECRET, event="dub.completed", attempts=8, backoff_s=0.5,
            max_backoff_s=5.0, sleep=sleeps)
    bases = [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert len(sleeps) == len(bases)
    for delay, base in zip(sleeps, bases):
        assert base <= delay <= base * 1.1  # up to 10% jitter on top


def test_a_slow_receiver_times_out(receiver: Receiver) -> None:
    receiver.delay_s = 2.0
    started = time.monotonic()
    attempts = deliver(receiver.url, PAYLOAD, SECRET, event="dub.completed", attempts=2, timeout_s=0.2,
                       sleep=Sleeps())
    assert [(a.status_code, a.error) for a in attempts] == [(None, "timeout"), (None, "timeout")]
    assert all(a.seconds < 1.5 for a in attempts) and time.monotonic() - started < 1.9
    assert len(receiver.requests) == 2


def test_attempts_must_be_positive(receiver: Receiver) -> None:
    with pytest.raises(ValueError, match="attempts"):
        deliver(receiver.url, PAYLOAD, SECRET, event="dub.completed", attempts=0)
    assert receiver.requests == []
