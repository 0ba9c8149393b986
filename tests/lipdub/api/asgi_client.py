"""Calls an ASGI app (the API's FastAPI app) in-process, the way an HTTP server hands it requests.

The real app sees a real ASGI request; no socket is opened, and no client library is needed
(FastAPI's TestClient needs httpx, which is not one of the project's dependencies).
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import quote


@dataclass(frozen=True)
class Response:
    status_code: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(app: Any, method: str, path: str, *, headers: Optional[dict[str, str]] = None, json_body: Any = None) -> Response:
    """`method` `path` (query string included) with `headers` and a JSON body, if given."""
    return asyncio.run(_call(app, method, path, headers or {}, json_body))


async def _call(app: Any, method: str, path: str, headers: dict[str, str], json_body: Any) -> Response:
    body = b"" if json_body is None else json.dumps(json_body).encode()
    raw_headers = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    if json_body is not None:
        raw_headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    route, _, query = path.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": route, "raw_path": quote(route).encode(), "query_string": query.encode(), "root_path": "",
        "headers": raw_headers, "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    started: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    response_headers = {name.decode().lower(): value.decode() for name, value in started.get("headers", [])}
    return Response(status_code=started["status"], headers=response_headers, body=b"".join(chunks))
