"""Who a caller is, which records it may see, and which URIs each tenant may use.

Why tenants: one server dubs for several customers. Each bearer token belongs to one tenant
(`ApiSecrets`); a tenant's requests are recorded with its name, and it sees, lists, cancels and
estimates only those: another tenant's id answers exactly like an unknown id (404), so ids cannot
be probed. Admin tokens see everything. A tenant's URIs are checked against its own prefixes
*and* the server's (`TenantConfig`: tenant settings only narrow the global ones).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Protocol

from lipdub.api.errors import ApiError
from lipdub.api.security import UriPolicy, callback_policy
from lipdub.api_settings import ADMIN_TENANT, DEFAULT_TENANT, ApiConfig, ApiSecrets, TenantConfig
from lipdub.storage import join_uri

__all__ = ["Caller", "TenantPolicy", "UriCheck", "record_tenant", "tenant_policies", "tenant_problems", "tenant_warnings"]


def record_tenant(record: dict[str, Any]) -> str:
    """The tenant that made `record`; records from before tenants existed are the default tenant's."""
    return record.get("tenant") or DEFAULT_TENANT


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: its tenant and its token's id (never the token)."""

    tenant: str
    token_id: str

    @property
    def admin(self) -> bool:
        return self.tenant == ADMIN_TENANT

    @property
    def idempotency_scope(self) -> str:
        # Per tenant, not per token: a tenant that rotates tokens still gets its retries answered,
        # and two tenants using the same key never see each other's request.
        return f"tenant:{self.tenant}"

    def sees(self, record: dict[str, Any]) -> bool:
        return self.admin or record_tenant(record) == self.tenant


class UriCheck(Protocol):
    def check(self, uri: str, what: str) -> str: ...


@dataclass(frozen=True)
class _Narrowed:
    """A URI must pass the tenant's policy and the server's; the tenant's is checked first, so a
    refusal lists the tenant's own prefixes, not the server's (which may name other tenants')."""

    tenant: UriCheck
    server: UriCheck

    def check(self, uri: str, what: str) -> str:
        checked = self.tenant.check(uri, what)
        self.server.check(uri, what)
        return checked


@dataclass(frozen=True)
class TenantPolicy:
    """The URIs one tenant may read, write and call back, and where its outputs go by default."""

    inputs: UriCheck
    outputs: UriCheck
    callbacks: UriCheck
    output_root: Optional[str]


def _output_prefixes(prefixes: tuple[str, ...], root: Optional[str]) -> tuple[str, ...]:
    # The output root is always an allowed output prefix: a request may name a file under it.
    return prefixes + ((root,) if root else ())


def _server_policy(api: ApiConfig) -> TenantPolicy:
    schemes = frozenset(api.schemes)
    return TenantPolicy(
        inputs=UriPolicy(schemes, api.input_prefixes),
        outputs=UriPolicy(schemes, _output_prefixes(api.output_prefixes, api.output_root)),
        callbacks=callback_policy(api.callback_prefixes),
        output_root=api.output_root,
    )


def _tenant_policy(api: ApiConfig, tenant: TenantConfig, server: TenantPolicy) -> TenantPolicy:
    schemes = frozenset(api.schemes)

    def own(value: Optional[tuple[str, ...]], inherited: tuple[str, ...]) -> tuple[str, ...]:
        return inherited if value is None else value

    root = tenant.output_root or api.output_root
    inputs = UriPolicy(schemes, own(tenant.input_prefixes, api.input_prefixes))
    outputs = UriPolicy(schemes, _output_prefixes(own(tenant.output_prefixes, api.output_prefixes), root))
    callbacks = callback_policy(own(tenant.callback_prefixes, api.callback_prefixes))
    return TenantPolicy(
        inputs=_Narrowed(inputs, server.inputs),
        outputs=_Narrowed(outputs, server.outputs),
        callbacks=_Narrowed(callbacks, server.callbacks),
        output_root=root,
    )


def tenant_policies(api: ApiConfig) -> tuple[TenantPolicy, dict[str, TenantPolicy]]:
    """(the server's policy, for tenants without settings and for admins; each configured
    tenant's policy by name). Raises ValueError for a prefix that is no absolute path or URI."""
    server = _server_policy(api)
    return server, {tenant.name: _tenant_policy(api, tenant, server) for tenant in api.tenants}


def _outside(server: UriCheck, prefix: str) -> bool:
    """Whether `prefix` reaches beyond `server`: a name just under it must be allowed there."""
    try:
        server.check(join_uri(prefix, "lipdub-prefix-probe"), "prefix")
        return False
    except ApiError:
        return True


def _narrowing_problems(api: ApiConfig, tenant: TenantConfig, server: TenantPolicy) -> list[str]:
    where = f"api.tenants.{tenant.name}"
    checks = [
        ("input_prefixes", tenant.input_prefixes or (), server.inputs, "api.input_prefixes"),
        ("output_prefixes", tenant.output_prefixes or (), server.outputs, "api.output_prefixes or api.output_root"),
        ("output_root", (tenant.output_root,) if tenant.output_root else (), server.outputs, "api.output_prefixes or api.output_root"),
        ("callback_prefixes", tenant.callback_prefixes or (), server.callbacks, "api.callback_prefixes"),
    ]
    problems = []
    for name, prefixes, policy, bound in checks:
        for prefix in prefixes:
            if _outside(policy, prefix):
                problems.append(f"{where}.{name}: {prefix} lies outside {bound} (a tenant's settings can only narrow the global ones)")
    return problems


def tenant_problems(api: ApiConfig, secrets: ApiSecrets) -> list[str]:
    """Reasons the tenant setup must not serve: bad prefixes, prefixes wider than the server's,
    and config sections for tenants that have no tokens (likely a misspelt name, which would
    leave the real tenant with the wider global settings)."""
    try:
        server = _server_policy(api)
    except ValueError:
        return []  # check_startable reports the global prefixes' own problems
    known = secrets.tenants()
    problems = []
    for tenant in api.tenants:
        if tenant.name not in known:
            problems.append(f"api.tenants.{tenant.name}: no tokens for this tenant in LIPDUB_API_TENANT_TOKENS "
                            f"(configured tenants with tokens: {', '.join(sorted(known)) or 'none'})")
        try:
            _tenant_policy(api, tenant, server)
        except ValueError as error:  # a prefix that is no absolute path or URI
            problems.append(f"api.tenants.{tenant.name}: {error}")
            continue
        problems += _narrowing_problems(api, tenant, server)
    return problems


def tenant_warnings(api: ApiConfig, secrets: ApiSecrets) -> list[str]:
    """Tenants that share the global input prefixes or output root with other tenants: allowed,
    but then each can read the others' inputs and write beside their outputs."""
    tenants = secrets.tenants()
    if len(tenants) < 2:
        return []
    warnings = []
    for name in sorted(tenants):
        settings = api.tenant(name)
        if settings is None or settings.input_prefixes is None:
            warnings.append(f"tenant {name!r} has no input_prefixes of its own (api.tenants.{name}): it may read every tenant's inputs")
        if (settings is None or settings.output_root is None) and api.output_root:
            warnings.append(f"tenant {name!r} has no output_root of its own (api.tenants.{name}): its outputs go beside other tenants'")
    return warnings
