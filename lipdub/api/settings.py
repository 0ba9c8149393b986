"""The HTTP API's settings: the ``api:`` section of a lipdub config file, plus secrets from the
environment (never from a config file, which tends to end up in a repository).

Secure by default: with no prefixes configured the API reads no input and accepts no callback,
and `lipdub serve` refuses to start without at least one bearer token.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

TOKENS_ENV = "LIPDUB_API_TOKENS"  # comma-separated bearer tokens
WEBHOOK_SECRET_ENV = "LIPDUB_WEBHOOK_SECRET"  # HMAC key for webhook signatures


def _as_tuple(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(item) for item in value)  # type: ignore[union-attr]


@dataclass(frozen=True)
class ApiConfig:
    """What the API accepts and where it keeps its records. Not part of any output fingerprint."""

    # Where outputs go when a request names none: <output_root>/<dub id>.mp4.
    output_root: str | None = None
    # Job records, idempotency keys and run manifests; None: <work_root>/api.
    state_root: str | None = None
    # Inputs (video_uri, audio_uri) must lie under one of these (local folders or URI prefixes).
    input_prefixes: tuple[str, ...] = ()
    # A request's own output_uri must lie under one of these; output_root is always allowed.
    output_prefixes: tuple[str, ...] = ()
    schemes: tuple[str, ...] = ("file", "s3")
    # Webhook callbacks must start with one of these (e.g. "https://hooks.example.com/").
    callback_prefixes: tuple[str, ...] = ()
    max_body_bytes: int = 1_000_000
    max_batch_items: int = 100
    # Requests (one dub or one batch) running at once; the rest wait in the queue. One keeps a
    # small machine from splitting its cores between competing pipelines.
    max_running: int = 1
    list_limit: int = 50
    webhook_attempts: int = 6
    webhook_backoff_s: float = 2.0
    webhook_timeout_s: float = 10.0
    # Estimates: output frames per second per CPU core (measured by `lipdub bench` on a 2-core VM:
    # 1500 frames in ~143 s) until the server has timed dubs of its own, plus a fixed start-up cost.
    estimate_fps_per_cpu: float = 5.2
    estimate_startup_s: float = 15.0

    def __post_init__(self) -> None:
        for name in ("input_prefixes", "output_prefixes", "schemes", "callback_prefixes"):
            object.__setattr__(self, name, _as_tuple(getattr(self, name)))


@dataclass(frozen=True)
class ApiSecrets:
    """Bearer tokens and the webhook signing key, read from the environment."""

    tokens: tuple[str, ...] = field(default=(), repr=False)
    webhook_secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls) -> "ApiSecrets":
        tokens = tuple(token.strip() for token in os.environ.get(TOKENS_ENV, "").split(",") if token.strip())
        return cls(tokens=tokens, webhook_secret=os.environ.get(WEBHOOK_SECRET_ENV) or None)
