"""Request and response bodies of the HTTP API (/v1): what the OpenAPI document describes.

Strict on the way in (unknown fields, over-long strings and wrong types are 422s with a
message), complete on the way out (every state carries the same fields, null when unknown).
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from lipdub.timeline import SYNC_MODES

State = Literal["queued", "running", "ok", "failed", "cancelled"]
TERMINAL_STATES: frozenset[str] = frozenset({"ok", "failed", "cancelled"})
SyncMode = Literal[("auto",) + SYNC_MODES]  # type: ignore[valid-type]

_URI = Field(min_length=1, max_length=2048)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DubOptions(_Strict):
    sync_mode: Optional[SyncMode] = Field(None, description="How video and dub lengths are reconciled; default: chosen per item.")
    speaker_point: Optional[str] = Field(
        None, pattern=r"^\s*-?\d+(\.\d+)?\s*,\s*-?\d+(\.\d+)?\s*$", max_length=64,
        description="'x,y' in source pixels: which face speaks, when there are several.",
    )
    transcript: Optional[str] = Field(None, max_length=20_000, description="The dub's text, if known (helps alignment).")
    video_codec: Optional[Literal["h264", "h265", "prores"]] = Field(
        None, description="Output video codec (default: the server config's, h264); prores needs a .mov or .mkv output_uri.")


class BatchItem(_Strict):
    """What to dub: the inputs, where the output goes, and how."""

    video_uri: str = _URI
    audio_uri: str = _URI
    language: str = Field("dub", min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    output_uri: Optional[str] = Field(None, min_length=1, max_length=2048, description="Default: <output_root>/<id>.mp4.")
    options: DubOptions = Field(default_factory=DubOptions)


class DubRequest(BatchItem):
    """One dub on its own: a batch item plus its own callback."""

    callback_url: Optional[str] = Field(None, min_length=1, max_length=2048, description="POSTed the signed result when done.")


class BatchRequest(_Strict):
    items: list[BatchItem] = Field(min_length=1, description="Limited by the server's max_batch_items.")
    callback_url: Optional[str] = Field(None, min_length=1, max_length=2048, description="POSTed the signed batch result when every item is done.")


class EstimateRequest(_Strict):
    items: list[BatchItem] = Field(min_length=1)


class WebhookAttempt(BaseModel):
    attempt: int
    at: str
    status_code: Optional[int] = None
    error: Optional[str] = None
    seconds: float


_TENANT = Field(description="The tenant whose token made the request.")


class DubStatus(BaseModel):
    id: str
    tenant: str = _TENANT
    batch_id: Optional[str] = None
    state: State
    progress: float = Field(description="Share of the request's items finished (0..1).")
    created_at: str
    updated_at: str
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    video_uri: str
    audio_uri: str
    language: str
    output_uri: str
    needs_review: Optional[bool] = None
    review_reasons: list[str] = Field(default_factory=list)
    qa: Optional[dict[str, Any]] = Field(None, description="The QA gate's figures (see `lipdub qa`).")
    output_frames: Optional[int] = None
    error: Optional[str] = None
    failed_stage: Optional[str] = None
    callback_url: Optional[str] = None
    webhook_deliveries: list[WebhookAttempt] = Field(default_factory=list)


class BatchStatus(BaseModel):
    id: str
    tenant: str = _TENANT
    state: State
    progress: float
    created_at: str
    updated_at: str
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    counts: dict[str, int] = Field(description="Items per state.")
    items: list[DubStatus]
    error: Optional[str] = None
    callback_url: Optional[str] = None
    webhook_deliveries: list[WebhookAttempt] = Field(default_factory=list)


class DubList(BaseModel):
    dubs: list[DubStatus]


class Accepted(BaseModel):
    id: str
    state: State
    status_url: str


class EstimateItem(BaseModel):
    video_uri: str
    audio_uri: str
    output_frames: int
    output_seconds: float


class Estimate(BaseModel):
    items: list[EstimateItem]
    output_frames: int
    expected_compute_seconds: float = Field(description="Wall seconds on the current cluster, start-up included, if nothing else runs.")
    cluster_cpus: float
    cluster_gpus: float
    fps_per_cpu: float
    basis: str = Field(description="Where fps_per_cpu comes from: 'measured' (recent dubs on this server) or 'default'.")
    queued_requests: int


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody
