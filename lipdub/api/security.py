"""Who may call the API, and which URIs a caller may make the server read, write or call back.

Why: a dub request names files by URI and the server opens them with its own credentials, so
an unchecked URI lets any caller read or overwrite anything the server can reach (other
tenants' buckets, /etc, cloud metadata endpoints). Every URI is checked against an allow-list
of prefixes on a path boundary; with no prefixes configured nothing is allowed (secure by default).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Sequence
from urllib.parse import urlsplit

from lipdub.api.errors import ApiError

__all__ = ["UriPolicy", "bearer_owner", "bearer_token_ok", "callback_policy", "require_bearer", "token_id", "unauthorized"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# Encoded '.', '/' and '\': a server or library that decodes them would see a traversal we did not.
_ENCODED_TRAVERSAL = re.compile(r"%(2e|2f|5c)", re.IGNORECASE)


def _presented_token(authorization: str | None) -> bytes | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None when it has another shape."""
    parts = (authorization or "").split(" ")
    if len(parts) != 2 or parts[0].lower() != "bearer" or not parts[1] or not parts[1].isprintable():
        return None
    return parts[1].encode()


def bearer_owner(authorization: str | None, owners: Sequence[tuple[str, str]]) -> str | None:
    """Whose token `authorization` carries: the owner of the matching ``(token, owner)``, or None.

    Every token is compared (no early exit), so response timing does not tell which one matched.
    """
    presented = _presented_token(authorization)
    if presented is None:
        return None
    found: str | None = None
    for token, owner in owners:
        if hmac.compare_digest(presented, token.encode()) and token:
            found = owner
    return found


def bearer_token_ok(authorization: str | None, tokens: Sequence[str]) -> bool:
    """Whether `authorization` is exactly ``Bearer <token>`` for one of the configured `tokens`."""
    return bearer_owner(authorization, [(token, token) for token in tokens]) is not None


def unauthorized(authorization: str | None) -> ApiError:
    """The 401 for a missing or unknown token (the message never echoes the token)."""
    if not authorization:
        return ApiError(401, "unauthorized", "a bearer token is needed: send 'Authorization: Bearer <token>'")
    return ApiError(401, "unauthorized", "the bearer token is not valid (expected 'Authorization: Bearer <token>')")


def require_bearer(authorization: str | None, tokens: Sequence[str]) -> None:
    """Raise a 401 `ApiError` unless `bearer_token_ok`."""
    if not bearer_token_ok(authorization, tokens):
        raise unauthorized(authorization)


def token_id(token: str) -> str:
    """Short stable id of a token: scopes idempotency keys and log lines without storing the token."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def _bad(what: str, why: str) -> ApiError:
    return ApiError(400, "bad_uri", f"{what} {why}")


@dataclass(frozen=True)
class UriPolicy:
    """URIs allowed for one purpose: a scheme in `schemes` and strictly under one of `prefixes`.

    A plain absolute path counts as scheme "file". Local paths are compared after
    `os.path.realpath` (symlinks and '..' cannot escape a prefix); remote URIs must not contain
    '.'/'..' segments, encoded dots/slashes or user:pass@ credentials. `check` returns the
    normalized URI: the real path for local files, lower-cased scheme and host for remote ones.
    """

    schemes: frozenset[str]
    prefixes: tuple[str, ...]
    max_length: int = 2048

    def __post_init__(self) -> None:
        object.__setattr__(self, "schemes", frozenset(s.lower() for s in self.schemes))
        prefixes = tuple(self.prefixes)
        for prefix in prefixes:
            if not _SCHEME.match(prefix) and not os.path.isabs(prefix):
                raise ValueError(f"URI prefix {prefix!r} must be an absolute path or a URI with a scheme")
        object.__setattr__(self, "prefixes", prefixes)

    def _refuse(self, what: str, uri_kind: str) -> ApiError:
        return ApiError(403, "uri_not_allowed",
                        f"{what} {uri_kind} is not allowed here: allowed schemes are "
                        f"{', '.join(sorted(self.schemes))}; allowed prefixes are {', '.join(self.prefixes)}")

    def check(self, uri: str, what: str) -> str:
        """The normalized `uri`, or an `ApiError` (400 bad_uri / 403 uri_not_allowed) naming `what`."""
        if not self.prefixes:
            raise ApiError(403, "uri_not_allowed", f"this server allows no URIs for {what}: "
                           "an operator must configure the allowed prefixes")
        if not isinstance(uri, str) or not uri.strip():
            raise _bad(what, "is empty")
        if len(uri) > self.max_length:
            raise _bad(what, f"is longer than {self.max_length} characters")
        if any(unicodedata.category(c) == "Cc" for c in uri):
            raise _bad(what, "contains control characters")
        match = _SCHEME.match(uri)
        scheme = match.group(1).lower() if match else "file"
        if scheme not in self.schemes:
            raise self._refuse(what, f"scheme {scheme!r}")
        if scheme == "file":
            if match and not uri.lower().startswith("file://"):
                raise _bad(what, "must look like file:///absolute/path")
            return self._check_local(uri[len("file://"):] if match else uri, what)
        return self._check_remote(uri, scheme, what)

    def _check_local(self, path: str, what: str) -> str:
        if not path.startswith("/"):
            raise _bad(what, "must be an absolute path (or file:///absolute/path)")
        real = os.path.realpath(path)
        for prefix in self.prefixes:
            if _SCHEME.match(prefix) and not prefix.lower().startswith("file:///"):
                continue
            root = os.path.realpath(prefix[len("file://"):] if _SCHEME.match(prefix) else prefix)
            if real.startswith(root.rstrip("/") + "/"):
                return real
        raise self._refuse(what, "path")

    def _check_remote(self, uri: str, scheme: str, what: str) -> str:
        try:
            parts = urlsplit(uri)
            parts.port  # raises ValueError for a malformed port
        except ValueError as e:
            raise _bad(what, f"is not a valid URI ({e})") from None
        if not uri[len(scheme) + 1:].startswith("//") or not parts.netloc:
            raise _bad(what, f"must look like {scheme}://host-or-bucket/path")
        if "@" in parts.netloc:
            raise _bad(what, "must not carry credentials (user:password@)")
        # Object stores have no query or fragment: '?' and '#' are part of the key there.
        rest = uri.split("://", 1)[1]
        if scheme in ("http", "https"):
            rest = rest.split("?", 1)[0].split("#", 1)[0]
        if "\\" in rest or _ENCODED_TRAVERSAL.search(rest):
            raise _bad(what, "must not contain backslashes or percent-encoded '.', '/' or '\\'")
        if any(segment in (".", "..") for segment in rest.split("/")):
            raise _bad(what, "must not contain '.' or '..' path segments")
        normalized = f"{scheme}://{parts.netloc.lower()}{uri[len(scheme) + 3 + len(parts.netloc):]}"
        for prefix in self.prefixes:
            root = _normalize_remote_prefix(prefix)
            base = root.rstrip("/") + "/" if root else None
            if base and len(normalized) > len(base) and normalized.startswith(base):
                return normalized
        raise self._refuse(what, "URI")


def _normalize_remote_prefix(prefix: str) -> str | None:
    """`prefix` with lower-cased scheme and host, or None for a local prefix."""
    match = _SCHEME.match(prefix)
    if not match or match.group(1).lower() == "file" or "://" not in prefix:
        return None
    scheme, rest = prefix.split("://", 1)
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}"


def callback_policy(prefixes: Sequence[str], max_length: int = 2048) -> UriPolicy:
    """Policy for webhook callback URLs: http/https only, under `prefixes`, no user:pass@."""
    return UriPolicy(frozenset({"http", "https"}), tuple(prefixes), max_length)
