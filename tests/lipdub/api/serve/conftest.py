"""A real lipdub API on Ray Serve at 127.0.0.1, a webhook receiver, and the demo's media.

Only inside a private network namespace (see tests/lipdub/api/test_serve_in_netns.py, which
runs this folder there); anywhere else these tests skip.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
import requests

from tests.lipdub.api.serve.netns import NETNS_ENV, bring_loopback_up, free_loopback_port

TOKEN = "test-token-7f3a"
WEBHOOK_SECRET = "webhook-secret-91c2"
MAX_BATCH_ITEMS = 3


HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items) -> None:
    # This hook sees the whole session's items, not just this folder's: touch only ours.
    if os.environ.get(NETNS_ENV):
        return
    skip = pytest.mark.skip(reason="runs only in a private network namespace (test_serve_in_netns.py runs it there)")
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)


@dataclass
class WebhookReceiver:
    """Records every POST; answers with the scripted statuses in turn, then 200."""

    url: str
    received: list[dict] = field(default_factory=list)
    script: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def posts_to(self, path: str) -> list[dict]:
        with self.lock:
            return [post for post in self.received if post["path"] == path]


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with receiver.lock:
                status = receiver.script.pop(0) if receiver.script else 200
                receiver.received.append({"path": self.path, "headers": dict(self.headers), "body": body, "answered": status})
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield receiver
    server.shutdown()
    server.server_close()


@dataclass(frozen=True)
class ApiInputs:
    folder: Path
    video: Path
    dub: Path
    broken_dub: Path
    output_root: Path


@pytest.fixture(scope="session")
def api_inputs(tmp_path_factory) -> ApiInputs:
    from jobs.demo import build_demo_inputs

    root = tmp_path_factory.mktemp("api")
    video, dub = build_demo_inputs(root / "in")
    broken = root / "in" / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    return ApiInputs(folder=root / "in", video=video, dub=dub, broken_dub=broken, output_root=root / "out")


@dataclass(frozen=True)
class Api:
    url: str
    session: requests.Session
    inputs: ApiInputs

    def call(self, method: str, path: str, *, token: str | None = TOKEN, **kwargs) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.session.request(method, self.url + path, headers=headers, timeout=60, **kwargs)

    def dub_body(self, **overrides) -> dict:
        return {"video_uri": str(self.inputs.video), "audio_uri": str(self.inputs.dub), **overrides}


@pytest.fixture(scope="session")
def api(api_inputs: ApiInputs, webhook_receiver: WebhookReceiver, tmp_path_factory) -> Iterator[Api]:
    import ray
    from ray import serve

    from lipdub.api.deployment import start_api, stop_api
    from lipdub.api_settings import ApiSecrets
    from lipdub.config import config_from_mapping

    bring_loopback_up()
    work = tmp_path_factory.mktemp("api_work")
    config = config_from_mapping({
        "work_root": str(work),
        "api": {
            "input_prefixes": [str(api_inputs.folder)], "output_root": str(api_inputs.output_root),
            "callback_prefixes": [webhook_receiver.url + "/hooks/"], "max_batch_items": MAX_BATCH_ITEMS,
            "webhook_backoff_s": 0.2, "max_body_bytes": 200_000,
        },
    })
    url = start_api(config, ApiSecrets(tokens=(TOKEN,), webhook_secret=WEBHOOK_SECRET), port=free_loopback_port())
    session = requests.Session()
    session.trust_env = False  # no proxies between the test and 127.0.0.1
    yield Api(url=url, session=session, inputs=api_inputs)
    stop_api()
    serve.shutdown()
    ray.shutdown()


def decode(response: requests.Response) -> dict:
    try:
        return response.json()
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON ({response.status_code}): {response.text[:300]}") from None
