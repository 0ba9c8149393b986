"""Tenant settings: tokens per tenant from the environment, per-tenant prefixes from the config,
the checks `lipdub serve` makes before it starts, and who a bearer token belongs to."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lipdub.api.errors import ApiError
from lipdub.api.security import bearer_owner
from lipdub.api_settings import (
    ADMIN_TENANT, ADMIN_TOKENS_ENV, DEFAULT_TENANT, TENANT_TOKENS_ENV, TOKENS_ENV, ApiConfig, ApiSecrets, TenantConfig,
    parse_tenant_tokens,
)
from lipdub.api.tenants import Caller, record_tenant, tenant_policies, tenant_problems, tenant_warnings
from lipdub.config import config_from_mapping, load_config

GLOBAL = {"input_prefixes": ["s3://media/in/"], "output_root": "s3://media/out", "callback_prefixes": ["https://hooks.example.com/"]}


def api_with(tenants: dict) -> ApiConfig:
    return config_from_mapping({"api": {**GLOBAL, "tenants": tenants}}).api


def refusal(check, uri: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        check(uri, "video_uri")
    return caught.value


# --- LIPDUB_API_TENANT_TOKENS -------------------------------------------------------------------

def test_tenant_tokens_parse_into_sorted_tenants() -> None:
    parsed = parse_tenant_tokens(" globex = tok-g ; acme=tok-a1, tok-a2 ;;")
    assert parsed == (("acme", ("tok-a1", "tok-a2")), ("globex", ("tok-g",)))


def test_a_token_may_contain_equals_signs() -> None:
    assert parse_tenant_tokens("acme=dG9rZW4==,x=y") == (("acme", ("dG9rZW4==", "x=y")),)


@pytest.mark.parametrize("text", ["", " ", ";", " ; ;"])
def test_an_empty_tenant_list_is_no_tenants(text: str) -> None:
    assert parse_tenant_tokens(text) == ()


@pytest.mark.parametrize(("text", "expected"), [
    ("acme=tok-a;secret-token-without-tenant", "entry 2 has no '='"),
    ("acme=", "'acme' has no tokens"),
    ("acme= , ", "'acme' has no tokens"),
    ("Acme=secret-token-x", "tenant name 'Acme'"),
    ("my tenant=secret-token-x", "tenant name 'my tenant'"),
    ("admin=secret-token-x", "reserved"),
    ("acme=secret-token-x;acme=secret-token-y", "named twice"),
])
def test_a_malformed_tenant_list_is_refused_without_echoing_a_token(text: str, expected: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_tenant_tokens(text)
    assert expected in str(raised.value) and TENANT_TOKENS_ENV in str(raised.value)
    assert "secret-token" not in str(raised.value)


# --- ApiSecrets ---------------------------------------------------------------------------------

def test_secrets_from_the_environment_with_tenants_and_admins(monkeypatch) -> None:
    monkeypatch.setenv(TOKENS_ENV, "tok-legacy")
    monkeypatch.setenv(TENANT_TOKENS_ENV, "acme=tok-a1,tok-a2;globex=tok-g")
    monkeypatch.setenv(ADMIN_TOKENS_ENV, " tok-root ,")
    secrets = ApiSecrets.from_env()
    assert secrets.tenants() == {"acme": ("tok-a1", "tok-a2"), "globex": ("tok-g",), DEFAULT_TENANT: ("tok-legacy",)}
    assert secrets.admin_tokens == ("tok-root",)
    assert sorted(secrets.token_owners()) == sorted([
        ("tok-legacy", DEFAULT_TENANT), ("tok-a1", "acme"), ("tok-a2", "acme"), ("tok-g", "globex"), ("tok-root", ADMIN_TENANT)])
    assert "tok-" not in repr(secrets)


def test_legacy_tokens_alone_are_the_default_tenant(monkeypatch) -> None:
    monkeypatch.setenv(TOKENS_ENV, "tok-1,tok-2")
    monkeypatch.delenv(TENANT_TOKENS_ENV, raising=False)
    monkeypatch.delenv(ADMIN_TOKENS_ENV, raising=False)
    secrets = ApiSecrets.from_env()
    assert secrets.tenants() == {DEFAULT_TENANT: ("tok-1", "tok-2")} and secrets.admin_tokens == ()
    assert secrets == ApiSecrets(tokens=("tok-1", "tok-2"))


def test_the_default_tenant_can_also_be_named_in_the_tenant_list() -> None:
    secrets = ApiSecrets(tokens=("tok-1",), tenant_tokens={"default": ("tok-2",)})
    assert secrets.tenants() == {DEFAULT_TENANT: ("tok-1", "tok-2")}


@pytest.mark.parametrize("secrets", [
    {"tenant_tokens": {"acme": ("shared-secret",), "globex": ("shared-secret",)}},
    {"tenant_tokens": {"acme": ("shared-secret",)}, "admin_tokens": ("shared-secret",)},
    {"tokens": ("shared-secret",), "tenant_tokens": {"acme": ("shared-secret",)}},
])
def test_one_token_for_two_owners_is_refused_without_echoing_it(secrets: dict) -> None:
    with pytest.raises(ValueError, match="configured for both") as raised:
        ApiSecrets(**secrets)
    assert "shared-secret" not in str(raised.value)


def test_a_token_listed_twice_for_one_tenant_is_harmless() -> None:
    assert ApiSecrets(tenant_tokens={"acme": ("tok", "tok")}).tenants() == {"acme": ("tok", "tok")}


def test_secrets_stay_hashable_and_comparable() -> None:
    a = ApiSecrets(tenant_tokens={"b": ("t2",), "a": ("t1",)}, admin_tokens=["t3"])
    b = ApiSecrets(tenant_tokens=(("a", ["t1"]), ("b", ("t2",))), admin_tokens=("t3",))
    assert a == b and hash(a) == hash(b)


# --- bearer_owner -------------------------------------------------------------------------------

OWNERS = [("tok-a", "acme"), ("tok-g", "globex"), ("tok-root", ADMIN_TENANT)]


@pytest.mark.parametrize(("header", "owner"), [
    ("Bearer tok-a", "acme"), ("bearer tok-g", "globex"), ("Bearer tok-root", ADMIN_TENANT),
    (None, None), ("", None), ("Bearer tok-x", None), ("Bearer tok-a ", None), ("Basic tok-a", None), ("Bearer ", None),
])
def test_bearer_owner_names_whose_token_it_is(header: str | None, owner: str | None) -> None:
    assert bearer_owner(header, OWNERS) == owner


def test_an_empty_configured_token_belongs_to_nobody() -> None:
    assert bearer_owner("Bearer ", [("", "acme")]) is None


# --- api.tenants in the config ------------------------------------------------------------------

def test_tenant_sections_become_sorted_frozen_settings() -> None:
    api = api_with({"globex": {"input_prefixes": "s3://media/in/globex/"}, "acme": {"output_root": "s3://media/out/acme"}})
    assert [tenant.name for tenant in api.tenants] == ["acme", "globex"]
    assert api.tenant("globex") == TenantConfig(name="globex", input_prefixes=("s3://media/in/globex/",))
    assert api.tenant("acme").input_prefixes is None and api.tenant("acme").output_root == "s3://media/out/acme"
    assert api.tenant("nobody") is None
    assert hash(api) == hash(dataclasses.replace(api))
    with pytest.raises(dataclasses.FrozenInstanceError):
        api.tenants[0].output_root = "s3://elsewhere"  # type: ignore[misc]


def test_an_empty_list_allows_nothing_and_a_missing_key_inherits() -> None:
    tenant = api_with({"acme": {"callback_prefixes": []}}).tenant("acme")
    assert tenant.callback_prefixes == () and tenant.input_prefixes is None
    assert api_with({"acme": None}).tenant("acme") == TenantConfig(name="acme")


def test_tenants_load_from_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("api:\n  input_prefixes: [s3://media/in/]\n  tenants:\n    acme:\n      input_prefixes: [s3://media/in/acme/]\n"
                    "      output_root: s3://media/out/acme\n")
    api = load_config(str(path)).api
    assert api.tenants == (TenantConfig(name="acme", input_prefixes=("s3://media/in/acme/",), output_root="s3://media/out/acme"),)


def test_tenants_survive_an_unrelated_override() -> None:
    base = config_from_mapping({"api": {**GLOBAL, "tenants": {"acme": {"input_prefixes": ["s3://media/in/acme/"]}}}})
    assert config_from_mapping({"api": {"max_running": 2}}, base).api.tenants == base.api.tenants


def test_tokens_in_a_tenant_section_are_refused_as_secrets_in_a_config() -> None:
    with pytest.raises(ValueError, match=TENANT_TOKENS_ENV):
        api_with({"acme": {"tokens": ["tok-a"]}})


def test_an_unknown_tenant_key_is_an_error() -> None:
    with pytest.raises(TypeError, match="input_prefix"):
        api_with({"acme": {"input_prefix": ["s3://media/in/acme/"]}})


@pytest.mark.parametrize("tenants", [["acme"], {"acme": ["s3://media/in/acme/"]}])
def test_tenants_that_are_no_mapping_of_settings_are_an_error(tenants: object) -> None:
    with pytest.raises(TypeError, match="api.tenants"):
        api_with(tenants)  # type: ignore[arg-type]


def test_tenants_round_trip_through_their_asdict_form() -> None:
    api = api_with({"acme": {"input_prefixes": ["s3://media/in/acme/"], "callback_prefixes": []}})
    assert ApiConfig(**{**dataclasses.asdict(api)}) == api


@pytest.mark.parametrize("name", ["admin", "Acme", "-x", "a b", "", "acme\n"])
def test_a_bad_or_reserved_tenant_name_is_an_error(name: str) -> None:
    with pytest.raises(ValueError, match="tenant name"):
        api_with({name: {}})


# --- policies: a tenant's settings narrow the server's ------------------------------------------

def test_a_tenant_with_settings_gets_them_and_others_the_servers() -> None:
    server, policies = tenant_policies(api_with({"acme": {"input_prefixes": ["s3://media/in/acme/"], "output_root": "s3://media/out/acme"}}))
    acme = policies["acme"]
    assert acme.inputs.check("s3://media/in/acme/a.mp4", "video_uri") == "s3://media/in/acme/a.mp4"
    assert refusal(acme.inputs.check, "s3://media/in/globex/a.mp4").status == 403
    assert acme.output_root == "s3://media/out/acme"
    assert refusal(acme.outputs.check, "s3://media/out/x.mp4").status == 403  # the global root is not acme's
    assert acme.callbacks.check("https://hooks.example.com/x", "callback_url")  # inherited
    assert set(policies) == {"acme"} and server.output_root == "s3://media/out"
    assert server.inputs.check("s3://media/in/globex/a.mp4", "video_uri")


def test_a_tenant_prefix_wider_than_the_servers_still_allows_only_what_both_allow() -> None:
    # `lipdub serve` refuses this config (below); the service checks both policies regardless.
    _, policies = tenant_policies(api_with({"acme": {"input_prefixes": ["s3://media/"]}}))
    assert refusal(policies["acme"].inputs.check, "s3://media/secret/a.mp4").status == 403
    assert policies["acme"].inputs.check("s3://media/in/a.mp4", "video_uri") == "s3://media/in/a.mp4"


def test_a_refusal_lists_the_tenants_prefixes_not_the_servers() -> None:
    _, policies = tenant_policies(api_with({"acme": {"input_prefixes": ["s3://media/in/acme/"]}}))
    message = refusal(policies["acme"].inputs.check, "s3://media/in/globex/a.mp4").message
    assert message.endswith("allowed prefixes are s3://media/in/acme/"), message


# --- tenant_problems and tenant_warnings --------------------------------------------------------

SECRETS = ApiSecrets(tenant_tokens={"acme": ("tok-a",), "globex": ("tok-g",)})


def test_a_sound_tenant_setup_has_no_problems() -> None:
    api = api_with({"acme": {"input_prefixes": ["s3://media/in/acme/"], "output_root": "s3://media/out/acme",
                             "callback_prefixes": ["https://hooks.example.com/acme/"]},
                    "globex": {"input_prefixes": ["s3://media/in/globex"], "output_prefixes": ["s3://media/out/globex/"]}})
    assert tenant_problems(api, SECRETS) == []


@pytest.mark.parametrize(("settings", "expected"), [
    ({"input_prefixes": ["s3://media/"]}, "api.tenants.acme.input_prefixes: s3://media/ lies outside api.input_prefixes"),
    ({"input_prefixes": ["s3://other/in/"]}, "api.tenants.acme.input_prefixes: s3://other/in/"),
    ({"output_root": "s3://media/elsewhere"}, "api.tenants.acme.output_root: s3://media/elsewhere lies outside"),
    ({"output_prefixes": ["/tmp/out/"]}, "api.tenants.acme.output_prefixes: /tmp/out/"),
    ({"callback_prefixes": ["https://evil.example.com/"]}, "api.tenants.acme.callback_prefixes"),
    ({"input_prefixes": ["relative/in"]}, "absolute"),
])
def test_tenant_settings_wider_than_the_servers_are_problems(settings: dict, expected: str) -> None:
    problems = tenant_problems(api_with({"acme": settings}), SECRETS)
    assert len(problems) == 1 and expected in problems[0], problems


def test_a_bad_global_prefix_is_left_to_check_startable_not_blamed_on_a_tenant() -> None:
    from lipdub.api.deployment import check_startable

    config = config_from_mapping({"api": {**GLOBAL, "input_prefixes": ["relative/in"], "tenants": {"acme": {}}}})
    problems = check_startable(config, SECRETS)
    assert len(problems) == 1 and problems[0].startswith("api.input_prefixes") and "relative/in" in problems[0]


def test_a_tenant_section_without_tokens_is_a_problem() -> None:
    # Most likely a misspelt name: the real tenant would quietly get the wider global settings.
    problems = tenant_problems(api_with({"acme": {}, "acmee": {"input_prefixes": ["s3://media/in/acme/"]}}), SECRETS)
    assert len(problems) == 1 and "api.tenants.acmee" in problems[0] and "acme, globex" in problems[0]


def test_tenants_sharing_the_global_settings_are_warned_about() -> None:
    warnings = tenant_warnings(api_with({"acme": {"input_prefixes": ["s3://media/in/acme/"], "output_root": "s3://media/out/acme"}}), SECRETS)
    assert len(warnings) == 2 and all("'globex'" in warning for warning in warnings)
    assert tenant_warnings(api_with({}), ApiSecrets(tokens=("tok",))) == []  # one tenant shares with nobody


def test_check_startable_reports_tenant_problems_and_counts_every_kind_of_token() -> None:
    from lipdub.api.deployment import check_startable

    config = config_from_mapping({"api": {**GLOBAL, "tenants": {"acme": {"input_prefixes": ["s3://other/"]}}}})
    problems = check_startable(config, SECRETS)
    assert len(problems) == 1 and "api.tenants.acme.input_prefixes" in problems[0]
    plain = config_from_mapping({"api": GLOBAL})
    assert check_startable(plain, ApiSecrets(admin_tokens=("tok-root",))) == []
    assert check_startable(plain, ApiSecrets(tenant_tokens={"acme": ("tok-a",)})) == []
    (no_tokens,) = check_startable(plain, ApiSecrets())
    assert TOKENS_ENV in no_tokens and TENANT_TOKENS_ENV in no_tokens


# --- Caller and records -------------------------------------------------------------------------

def test_a_caller_sees_its_tenants_records_and_an_admin_every_record() -> None:
    acme, admin = Caller("acme", "id-a"), Caller(ADMIN_TENANT, "id-r")
    records = [{"tenant": "acme"}, {"tenant": "globex"}, {}]
    assert [acme.sees(record) for record in records] == [True, False, False]
    assert [Caller(DEFAULT_TENANT, "id-d").sees(record) for record in records] == [False, False, True]
    assert all(admin.sees(record) for record in records) and admin.admin and not acme.admin
    assert record_tenant({}) == DEFAULT_TENANT and record_tenant({"tenant": None}) == DEFAULT_TENANT
    assert acme.idempotency_scope == Caller("acme", "another-token").idempotency_scope != Caller("globex", "id-a").idempotency_scope


# --- `lipdub serve` refuses a bad tenant setup --------------------------------------------------

def test_serve_refuses_a_malformed_tenant_list_without_echoing_it(monkeypatch) -> None:
    from jobs.cli import app

    monkeypatch.setenv(TENANT_TOKENS_ENV, "acme=tok-a;secret-token-without-tenant")
    result = CliRunner().invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 2
    assert TENANT_TOKENS_ENV in result.output and "entry 2" in result.output
    assert "secret-token" not in result.output


def test_serve_refuses_tenant_settings_wider_than_the_servers(monkeypatch, tmp_path: Path) -> None:
    from jobs.cli import app

    monkeypatch.delenv(TOKENS_ENV, raising=False)
    monkeypatch.setenv(TENANT_TOKENS_ENV, "acme=tok-a")
    config = tmp_path / "api.yaml"
    config.write_text("api: {input_prefixes: [/data/in/], output_root: /data/out, tenants: {acme: {input_prefixes: [/data/]}}}\n")
    result = CliRunner().invoke(app, ["serve", "--config", str(config)])
    assert result.exit_code == 2
    assert "api.tenants.acme.input_prefixes: /data/ lies outside api.input_prefixes" in result.output
