"""The FastAPI application: routes under /v1, JSON errors, body-size limit, OpenAPI document.

Every refusal is ``{"error": {"code", "message"}}`` with a 4xx status (validation errors too:
422 with each bad field named); anything unexpected is logged and answered with a 500 in the
same shape, never a stack trace.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Optional

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from lipdub.api.errors import ApiError
from lipdub.api.schemas import (
    Accepted, BatchRequest, BatchStatus, DubList, DubRequest, DubStatus, ErrorResponse, Estimate, EstimateRequest, State,
)
from lipdub.api.service import ApiService
from lipdub.api_settings import TENANT_NAME_PATTERN
from lipdub.api.tenants import Caller

log = logging.getLogger(__name__)

_ID_PATTERN = r"^[a-z]+_\d{8}T\d{12}_[0-9a-f]{8}$"
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "Bad request (a URI, a key or an option the server refuses)", 401: "No or wrong bearer token",
        403: "A URI outside the allowed prefixes", 404: "No such dub or batch (or one of another tenant)",
        409: "Conflicts with the record's state",
        413: "Body or batch too large", 422: "Body does not match the schema",
    }.items()
}
_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


class BodySizeLimit:
    """ASGI middleware: refuse bodies over ``limit`` bytes (413) before the route reads them."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await self._refuse(send)
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise ApiError(413, "body_too_large", f"request bodies are limited to {self.limit} bytes")
            return message

        try:
            await self.app(scope, counted, send)
        except ApiError:
            await self._refuse(send)

    async def _refuse(self, send: Callable[[dict], Awaitable[None]]) -> None:
        error = ApiError(413, "body_too_large", f"request bodies are limited to {self.limit} bytes")
        await JSONResponse(error.to_json(), status_code=413)({"type": "http"}, _no_body, send)


async def _no_body() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


def _validation_message(error: RequestValidationError) -> str:
    parts = []
    for problem in error.errors()[:10]:
        where = ".".join(str(part) for part in problem.get("loc", ()) if part != "body") or "body"
        parts.append(f"{where}: {problem.get('msg', 'invalid')}")
    return "; ".join(parts)


def build_app(service: ApiService) -> FastAPI:
    from lipdub import __version__

    app = FastAPI(
        title="lipdub API", version=__version__, openapi_url="/v1/openapi.json", docs_url="/v1/docs", redoc_url=None,
        description="Submit, track and receive lip-synced dubs. Every /v1 route but /v1/health needs a bearer token; "
                    "each token belongs to a tenant, which sees only its own dubs and batches.",
    )
    app.add_middleware(BodySizeLimit, limit=service.api.max_body_bytes)
    bearer = HTTPBearer(auto_error=False, description="A tenant's token (LIPDUB_API_TENANT_TOKENS or LIPDUB_API_TOKENS) "
                                                      "or an admin token (LIPDUB_API_ADMIN_TOKENS)")

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(error.to_json(), status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(ApiError(422, "invalid_request", _validation_message(error)).to_json(), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = _CODES.get(error.status_code, "http_error")
        message = f"{error.detail}: {request.method} {request.url.path} (the API's routes are listed in /v1/openapi.json)"
        return JSONResponse(ApiError(error.status_code, code, message).to_json(), status_code=error.status_code, headers=error.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(ApiError(500, "internal", "internal error; it has been logged").to_json(), status_code=500)

    def caller(authorization: Optional[str] = Header(None), _: Any = Depends(bearer)) -> Caller:
        return service.authorize(authorization)

    def record_id() -> Any:
        # A fresh Path per route: FastAPI binds a Path() object to the first parameter it serves.
        return Path(..., pattern=_ID_PATTERN, max_length=64)

    @app.get("/v1/health", tags=["meta"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/dubs", status_code=202, response_model=Accepted, responses=_ERRORS, tags=["dubs"])
    async def create_dub(body: DubRequest, who: Caller = Depends(caller), idempotency_key: Optional[str] = Header(None, max_length=255)) -> dict:
        view = await service.create_dub(body, who, idempotency_key)
        return {"id": view["id"], "state": view["state"], "status_url": f"/v1/dubs/{view['id']}"}

    @app.get("/v1/dubs", response_model=DubList, responses=_ERRORS, tags=["dubs"])
    async def list_dubs(
        limit: int = Query(20, ge=1, le=500), state: Optional[State] = Query(None),
        tenant: Optional[str] = Query(None, pattern=TENANT_NAME_PATTERN, max_length=63,
                                      description="Only this tenant's dubs (for admin tokens; a tenant sees only its own)."),
        who: Caller = Depends(caller),
    ) -> dict:
        return {"dubs": service.list_dubs(limit, state, who, tenant)}

    @app.get("/v1/dubs/{dub_id}", response_model=DubStatus, responses=_ERRORS, tags=["dubs"])
    async def get_dub(dub_id: str = record_id(), who: Caller = Depends(caller)) -> dict:
        return service.dub(dub_id, who)

    @app.delete("/v1/dubs/{dub_id}", status_code=202, response_model=DubStatus, responses=_ERRORS, tags=["dubs"])
    async def cancel_dub(dub_id: str = record_id(), who: Caller = Depends(caller)) -> dict:
        return await service.cancel_dub(dub_id, who)

    @app.post("/v1/batches", status_code=202, response_model=Accepted, responses=_ERRORS, tags=["batches"])
    async def create_batch(body: BatchRequest, who: Caller = Depends(caller), idempotency_key: Optional[str] = Header(None, max_length=255)) -> dict:
        view = await service.create_batch(body, who, idempotency_key)
        return {"id": view["id"], "state": view["state"], "status_url": f"/v1/batches/{view['id']}"}

    @app.get("/v1/batches/{batch_id}", response_model=BatchStatus, responses=_ERRORS, tags=["batches"])
    async def get_batch(batch_id: str = record_id(), who: Caller = Depends(caller)) -> dict:
        return service.batch(batch_id, who)

    @app.delete("/v1/batches/{batch_id}", status_code=202, response_model=BatchStatus, responses=_ERRORS, tags=["batches"])
    async def cancel_batch(batch_id: str = record_id(), who: Caller = Depends(caller)) -> dict:
        return await service.cancel_batch(batch_id, who)

    @app.post("/v1/estimate", response_model=Estimate, responses=_ERRORS, tags=["estimate"])
    async def estimate(body: EstimateRequest, who: Caller = Depends(caller)) -> dict:
        return await service.estimate(body, who)

    return app
