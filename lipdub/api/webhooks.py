"""Signed webhook deliveries: tell a caller's server that a dub finished, and let it check it was us.

Each delivery POSTs compact JSON with three headers:

    X-Lipdub-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>
    X-Lipdub-Event:     dub.completed (or dub.failed, ...)
    X-Lipdub-Delivery:  uuid4 hex, the same on every retry of one delivery (receivers dedupe on it)

The timestamp is inside the signature, so a captured request replayed later fails `verify`.
`deliver` never raises for a failed delivery: its list of attempts is the delivery log. It does
not check the URL: callers pass only URLs that `security.callback_policy` accepted.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import re
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import urlsplit

import requests

log = logging.getLogger(__name__)

__all__ = [
    "DELIVERY_HEADER", "EVENT_HEADER", "SIGNATURE_HEADER", "DeliveryAttempt",
    "deliver", "delivered", "encode_payload", "sign", "signature_header", "verify",
]

SIGNATURE_HEADER = "X-Lipdub-Signature"
EVENT_HEADER = "X-Lipdub-Event"
DELIVERY_HEADER = "X-Lipdub-Delivery"

_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>." + body`` keyed with `secret`."""
    if not secret:
        raise ValueError("webhook secret is empty: refusing to sign with an empty key")
    return hmac.new(secret.encode(), f"{int(timestamp)}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(body: bytes, secret: str, timestamp: int) -> str:
    """The X-Lipdub-Signature value: ``t=<timestamp>,v1=<signature>``."""
    return f"t={int(timestamp)},v1={sign(body, secret, timestamp)}"


def verify(body: bytes, header: str | None, secret: str, *, now: float | None = None,
           tolerance_s: float = 300.0) -> bool:
    """Whether `header` signs `body` with `secret` at a time within `tolerance_s` of `now`.

    For receivers (and our tests). A malformed header, an empty secret or a stale or future
    timestamp gives False, never an exception.
    """
    if not header or not secret:
        return False
    timestamp, signatures = None, []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if key == "t" and timestamp is None and _TIMESTAMP.match(value):
            timestamp = int(value)
        elif key == "v1" and _HEX_SHA256.match(value):
            signatures.append(value)
        else:
            return False
    if timestamp is None or not signatures:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(body, secret, timestamp)
    return any([hmac.compare_digest(expected, s) for s in signatures])  # compare all: no early exit


def encode_payload(payload: dict[str, Any]) -> bytes:
    """Compact JSON with sorted keys (the exact bytes that are signed); NaN/inf raise ValueError."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, allow_nan=False).encode()


@dataclass
class DeliveryAttempt:
    """One POST of a delivery: when, what came back (or why nothing did) and how long it took."""

    attempt: int  # 1-based
    at: str  # ISO 8601 UTC, when the attempt started
    status_code: int | None
    error: str | None  # "connection refused", "timeout", "HTTP 500", ... None on success
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def delivered(attempts: list[DeliveryAttempt]) -> bool:
    """Whether the last attempt got a 2xx."""
    return bool(attempts) and attempts[-1].error is None


def _connection_error(e: requests.ConnectionError) -> str:
    text = str(e).lower()
    if "refused" in text:
        return "connection refused"
    return "connection reset" if "reset" in text else "connection failed"


def _post_once(session: requests.Session, url: str, body: bytes, headers: dict[str, str],
               timeout_s: float) -> tuple[int | None, str | None, bool]:
    """(status code, error, worth retrying) of one POST; redirects are failures, never followed."""
    try:
        # stream=True: the body is never read, so a hostile receiver cannot make us download much.
        with session.post(url, data=body, headers=headers, timeout=timeout_s,
                          allow_redirects=False, stream=True) as response:
            status = response.status_code
    except requests.Timeout:  # before ConnectionError: ConnectTimeout is both
        return None, "timeout", True
    except requests.ConnectionError as e:
        return None, _connection_error(e), True
    except requests.RequestException as e:  # invalid URL and the like: retrying cannot help
        return None, f"request failed: {type(e).__name__}", False
    if 200 <= status < 300:
        return status, None, False
    return status, f"HTTP {status}", status >= 500 or status == 429


def deliver(url: str, payload: dict[str, Any], secret: str, *, event: str, attempts: int = 5,
            backoff_s: float = 1.0, max_backoff_s: float = 60.0, timeout_s: float = 10.0,
            sleep: Callable[[float], None] = time.sleep) -> list[DeliveryAttempt]:
    """POST `payload` to `url`, signed, until a 2xx or `attempts` tries; returns every attempt.

    Connection errors, timeouts, 5xx and 429 are retried after ``backoff_s * 2**(n-1)`` seconds
    (capped at `max_backoff_s`, plus up to 10% jitter); other 4xx and 3xx are final.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    body = encode_payload(payload)
    delivery_id = uuid.uuid4().hex
    where = urlsplit(url)._replace(query="", fragment="").geturl()  # query strings may hold tokens
    log_: list[DeliveryAttempt] = []
    with requests.Session() as session:
        session.trust_env = False  # no ~/.netrc credentials or env proxies sent to a caller's URL
        for n in range(1, attempts + 1):
            timestamp = int(time.time())
            headers = {"Content-Type": "application/json", EVENT_HEADER: event,
                       DELIVERY_HEADER: delivery_id,
                       SIGNATURE_HEADER: signature_header(body, secret, timestamp)}
            at = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            started = time.monotonic()
            status, error, retry = _post_once(session, url, body, headers, timeout_s)
            log_.append(DeliveryAttempt(n, at, status, error, round(time.monotonic() - started, 3)))
            if error is None:
                log.info("webhook %s %s delivered to %s (attempt %d)", event, delivery_id, where, n)
                return log_
            log.warning("webhook %s %s to %s failed (attempt %d/%d): %s%s", event, delivery_id,
                        where, n, attempts, error, "" if retry else ", not retrying")
            if not retry or n == attempts:
                return log_
            delay = min(backoff_s * 2 ** (n - 1), max_backoff_s)
            sleep(delay + random.uniform(0, 0.1 * delay))
    return log_
