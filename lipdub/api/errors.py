"""The one error type the HTTP API turns into a JSON error response."""
from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A request the API refuses: HTTP status, a stable machine code and a message a person can act on.

    Clients branch on `code` (stable across releases), people read `message`; the HTTP status
    says whose fault it is (4xx the caller's, 5xx ours).
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def to_json(self) -> dict[str, Any]:
        """The response body: ``{"error": {"code": ..., "message": ...}}``."""
        return {"error": {"code": self.code, "message": self.message}}

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.code!r}, {self.message!r})"
