"""The HTTP API's settings: the ``api:`` section of a lipdub config file, plus secrets from the
environment (never from a config file, which tends to end up in a repository).

Part of the library (beside `lipdub.config`, which holds the ``api`` section), not of
`lipdub.api`: the API sits above the pipelines it starts, and the config may not import upward.

Secure by default: with no prefixes configured the API reads no input and accepts no callback,
and `lipdub serve` refuses to start without at least one bearer token.

Tenants: every bearer token belongs to one tenant, and a tenant sees only its own requests.
Tokens are secrets, so the token -> tenant map comes from the environment
(``LIPDUB_API_TENANT_TOKENS="acme=tok1,tok2;globex=tok3"``; the tokens of ``LIPDUB_API_TOKENS``
are tenant "default"; ``LIPDUB_API_ADMIN_TOKENS`` see every tenant). A tenant's non-secret
settings (prefixes, output root) are in the config, ``api.tenants.<name>``, and can only narrow
the global ones (see `TenantConfig`).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from typing import Iterable, Mapping

TOKENS_ENV = "LIPDUB_API_TOKENS"  # comma-separated bearer tokens of the "default" tenant
TENANT_TOKENS_ENV = "LIPDUB_API_TENANT_TOKENS"  # "tenantA=tok1,tok2;tenantB=tok3"
ADMIN_TOKENS_ENV = "LIPDUB_API_ADMIN_TOKENS"  # comma-separated; these callers see every tenant
WEBHOOK_SECRET_ENV = "LIPDUB_WEBHOOK_SECRET"  # HMAC key for webhook signatures

# The tenant of LIPDUB_API_TOKENS' tokens, and of records written before there were tenants.
DEFAULT_TENANT = "default"
# Reserved: what an admin's own requests are recorded under (no tenant can take the name).
ADMIN_TENANT = "admin"
# Tenant names end up in records, logs and query strings: keep them plain.
_TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
TENANT_NAME_PATTERN = _TENANT_NAME.pattern


def _as_tuple(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(item) for item in value)  # type: ignore[union-attr]


def check_tenant_name(name: object, where: str) -> str:
    """`name` if it can name a tenant, else a ValueError saying `where` it came from."""
    if not isinstance(name, str) or not _TENANT_NAME.fullmatch(name):
        raise ValueError(f"{where}: tenant name {name!r} must be 1-63 of a-z, 0-9, '_' and '-', starting with a letter or digit")
    if name == ADMIN_TENANT:
        raise ValueError(f"{where}: the tenant name {ADMIN_TENANT!r} is reserved for admin tokens ({ADMIN_TOKENS_ENV})")
    return name


@dataclass(frozen=True)
class TenantConfig:
    """One tenant's non-secret settings: ``api.tenants.<name>`` in the config.

    Each setting *narrows* the global one, never widens it: a tenant's prefixes and output root
    must lie under the global ``api.*`` ones (`lipdub serve` refuses to start otherwise), and every
    URI is checked against both. Narrowing, not replacing, is the safer choice: the global lists
    stay the one outer bound an operator has to audit, and a typo in a tenant section cannot open
    more than the server allows. A setting left out (None) is inherited from the global one; an
    empty list allows nothing (``callback_prefixes: []``: no webhooks for this tenant). Tokens
    never go here: they are in the environment (`ApiSecrets`).
    """

    name: str
    input_prefixes: tuple[str, ...] | None = None
    output_prefixes: tuple[str, ...] | None = None
    # Where this tenant's outputs go when a request names none; None: the global output_root.
    output_root: str | None = None
    callback_prefixes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        check_tenant_name(self.name, "api.tenants")
        for name in ("input_prefixes", "output_prefixes", "callback_prefixes"):
            value = getattr(self, name)
            object.__setattr__(self, name, None if value is None else _as_tuple(value))


_TENANT_KEYS = frozenset(f.name for f in fields(TenantConfig)) - {"name"}


def _tenant_config(name: str, values: object) -> TenantConfig:
    if values is not None and not isinstance(values, Mapping):
        raise TypeError(f"api.tenants.{name} must be a mapping of settings (input_prefixes, output_root, ...)")
    values = dict(values or {})
    unknown = sorted(set(values) - _TENANT_KEYS)
    if any("token" in key.lower() for key in unknown):
        raise ValueError(f"api.tenants.{name}: tokens are secrets and never go in a config file; "
                         f"set them in {TENANT_TOKENS_ENV} (\"{name}=token1,token2;other=token3\")")
    if unknown:
        raise TypeError(f"api.tenants.{name}: unknown keys {unknown} (known: {sorted(_TENANT_KEYS)})")
    return TenantConfig(name=name, **values)


def _tenant_config_of(item: object) -> TenantConfig:
    if not isinstance(item, Mapping) or "name" not in item:
        raise TypeError("api.tenants must map tenant names to their settings: tenants: {acme: {input_prefixes: [...]}}")
    return _tenant_config(str(item["name"]), {key: value for key, value in item.items() if key != "name"})


def _as_tenants(value: object) -> tuple[TenantConfig, ...]:
    """``{name: {settings}}`` from a config file (or `TenantConfig`s) -> a tuple sorted by name."""
    if not value:
        return ()
    if isinstance(value, Mapping):
        tenants = [_tenant_config(str(name), settings) for name, settings in value.items()]
    else:  # TenantConfigs (dataclasses.replace) or their asdict() form
        tenants = [item if isinstance(item, TenantConfig) else _tenant_config_of(item) for item in value]  # type: ignore[union-attr]
    names = [tenant.name for tenant in tenants]
    if len(set(names)) != len(names):
        raise ValueError(f"api.tenants: a tenant is configured twice ({sorted(names)})")
    return tuple(sorted(tenants, key=lambda tenant: tenant.name))


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
    # Warm stages: requests flow into one long-lived pipeline whose stage actors keep their models
    # loaded (pipelines/warm_pipeline.py); False starts a pipeline per request (slower, but its
    # resources are free between requests).
    warm_stages: bool = True
    list_limit: int = 50
    webhook_attempts: int = 6
    webhook_backoff_s: float = 2.0
    webhook_timeout_s: float = 10.0
    # Estimates: output frames per second per CPU core (measured by `lipdub bench` on a 2-core VM:
    # 1500 frames in ~143 s) until the server has timed dubs of its own, plus a fixed start-up cost.
    estimate_fps_per_cpu: float = 5.2
    estimate_startup_s: float = 15.0
    # Per-tenant settings that narrow the ones above (`TenantConfig`); tenants not listed get the
    # global ones. In a config file: ``tenants: {acme: {input_prefixes: [...], output_root: ...}}``.
    tenants: tuple[TenantConfig, ...] = ()

    def __post_init__(self) -> None:
        for name in ("input_prefixes", "output_prefixes", "schemes", "callback_prefixes"):
            object.__setattr__(self, name, _as_tuple(getattr(self, name)))
        object.__setattr__(self, "tenants", _as_tenants(self.tenants))

    def tenant(self, name: str) -> TenantConfig | None:
        """The settings of tenant `name`, or None when it has none of its own."""
        return next((tenant for tenant in self.tenants if tenant.name == name), None)


def _split_tokens(text: str) -> tuple[str, ...]:
    return tuple(token.strip() for token in text.split(",") if token.strip())


def parse_tenant_tokens(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``"acme=tok1,tok2;globex=tok3"`` -> ``(("acme", ("tok1", "tok2")), ("globex", ("tok3",)))``.

    Blank entries are skipped; a tenant without tokens or named twice is a ValueError. Messages
    name tenants and entry numbers, never a token (a malformed entry may be one).
    """
    parsed: dict[str, tuple[str, ...]] = {}
    for number, entry in enumerate(text.split(";"), start=1):
        if not entry.strip():
            continue
        name, equals, tokens = entry.partition("=")  # only the first '=': tokens may hold '=' (base64)
        if not equals:
            raise ValueError(f"{TENANT_TOKENS_ENV}: entry {number} has no '=' (expected tenant=token1,token2;other=token3)")
        name = check_tenant_name(name.strip(), f"{TENANT_TOKENS_ENV} entry {number}")
        if name in parsed:
            raise ValueError(f"{TENANT_TOKENS_ENV}: tenant {name!r} is named twice; list all its tokens in one entry")
        parsed[name] = _split_tokens(tokens)
        if not parsed[name]:
            raise ValueError(f"{TENANT_TOKENS_ENV}: tenant {name!r} has no tokens")
    return tuple(sorted(parsed.items()))


@dataclass(frozen=True)
class ApiSecrets:
    """Bearer tokens (and whose they are) and the webhook signing key, read from the environment.

    `tokens` are the "default" tenant's (``LIPDUB_API_TOKENS``, as before tenants existed);
    `tenant_tokens` the other tenants' (a mapping or ``(name, tokens)`` pairs); `admin_tokens`
    see and cancel every tenant's requests. One token in two places is a ValueError: which
    tenant it stands for would be a guess.
    """

    tokens: tuple[str, ...] = field(default=(), repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    tenant_tokens: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), repr=False)
    admin_tokens: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        pairs: Iterable[tuple[str, Iterable[str]]] = (
            self.tenant_tokens.items() if isinstance(self.tenant_tokens, Mapping) else self.tenant_tokens)
        tenant_tokens = tuple(sorted((check_tenant_name(name, "tenant tokens"), tuple(tokens)) for name, tokens in pairs))
        object.__setattr__(self, "tenant_tokens", tenant_tokens)
        object.__setattr__(self, "tokens", tuple(self.tokens))
        object.__setattr__(self, "admin_tokens", tuple(self.admin_tokens))
        self._check_each_token_has_one_owner()

    def _check_each_token_has_one_owner(self) -> None:
        owners: dict[str, str] = {}
        for token, owner in self.token_owners():
            if owners.setdefault(token, owner) != owner:
                first, second = sorted((owners[token], owner))
                raise ValueError(f"one token is configured for both {first!r} and {second!r}; give each tenant its own tokens")

    def tenants(self) -> dict[str, tuple[str, ...]]:
        """Tenant name -> its tokens (admin tokens are not a tenant's)."""
        tenants = dict(self.tenant_tokens)
        if self.tokens:
            tenants[DEFAULT_TENANT] = tuple(self.tokens) + tenants.get(DEFAULT_TENANT, ())
        return tenants

    def token_owners(self) -> list[tuple[str, str]]:
        """(token, tenant) for every configured token; admin tokens' tenant is ``ADMIN_TENANT``."""
        pairs = [(token, DEFAULT_TENANT) for token in self.tokens]
        pairs += [(token, name) for name, tokens in self.tenant_tokens for token in tokens]
        return pairs + [(token, ADMIN_TENANT) for token in self.admin_tokens]

    @classmethod
    def from_env(cls) -> "ApiSecrets":
        """The secrets in the environment; a malformed tenant list is a ValueError (no token in it)."""
        return cls(
            tokens=_split_tokens(os.environ.get(TOKENS_ENV, "")),
            webhook_secret=os.environ.get(WEBHOOK_SECRET_ENV) or None,
            tenant_tokens=parse_tenant_tokens(os.environ.get(TENANT_TOKENS_ENV, "")),
            admin_tokens=_split_tokens(os.environ.get(ADMIN_TOKENS_ENV, "")),
        )
