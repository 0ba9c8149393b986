"""A minimal Chrome DevTools Protocol client for browser tests: start headless Chromium, talk to
one page over its websocket, evaluate JavaScript and take screenshots.

Every wait is bounded, so a browser that hangs or never starts fails the test instead.
"""
from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM = Path("/usr/bin/chromium")
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-port=0")


class CDPError(RuntimeError):
    pass


class PageSession:
    """Commands to one page target; events that arrive meanwhile are kept in ``events``."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.events: list[dict[str, Any]] = []
        self._last_id = 0

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        self._last_id += 1
        command_id = self._last_id
        self.connection.send(json.dumps({"id": command_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no answer to {method} within {timeout} s")
            message = json.loads(self.connection.recv(timeout=remaining))
            if message.get("id") == command_id:
                if "error" in message:
                    raise CDPError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def evaluate(self, expression: str, timeout: float = 10.0) -> Any:
        """The value of a JavaScript expression in the page (JSON-serializable values only)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                           timeout=timeout)
        if "exceptionDetails" in result:
            raise CDPError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10.0) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression, timeout=max(0.5, deadline - time.monotonic()))
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression!r} still false after {timeout} s")
            time.sleep(0.05)

    def navigate(self, url: str, timeout: float = 15.0) -> None:
        self.send("Page.navigate", {"url": url}, timeout=timeout)
        self.wait_for(f"document.readyState === 'complete' && location.href === {json.dumps(url)}", timeout=timeout)

    def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        data = self.send("Page.captureScreenshot", params, timeout=30.0)["data"]
        path.write_bytes(base64.b64decode(data))
        return path


def _devtools_port(profile: Path, process: subprocess.Popen, timeout: float) -> int:
    """The port Chromium chose; it writes it to DevToolsActivePort once listening."""
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CDPError(f"chromium exited with code {process.returncode} before listening")
        if port_file.exists():
            first_line = port_file.read_text().splitlines()[:1]
            if first_line and first_line[0].strip().isdigit():
                return int(first_line[0])
        time.sleep(0.05)
    raise TimeoutError(f"chromium did not write {port_file} within {timeout} s")


def _page_websocket(port: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as answer:
            targets = json.loads(answer.read())
        pages = [target for target in targets if target.get("type") == "page" and target.get("webSocketDebuggerUrl")]
        if pages:
            return pages[0]["webSocketDebuggerUrl"]
        if time.monotonic() > deadline:
            raise TimeoutError("chromium shows no page target")
        time.sleep(0.05)


@contextlib.contextmanager
def headless_page(profile: Path, *, window: tuple[int, int] = (1400, 1000), timeout: float = 15.0) -> Iterator[PageSession]:
    """A page in a fresh headless Chromium (profile in ``profile``); only that browser is stopped
    afterwards, by its own process id."""
    profile.mkdir(parents=True, exist_ok=True)
    command = [str(CHROMIUM), *_FLAGS, f"--user-data-dir={profile}", f"--window-size={window[0]},{window[1]}", "about:blank"]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = _devtools_port(profile, process, timeout)
        with connect(_page_websocket(port, timeout), open_timeout=timeout, max_size=None) as connection:
            session = PageSession(connection)
            session.send("Page.enable")
            session.send("Runtime.enable")
            yield session
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
