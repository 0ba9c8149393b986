"""The API's settings: the ``api:`` config section, secrets from the environment, and when `lipdub serve` may start."""
from __future__ import annotations

import dataclasses

import pytest

from lipdub.api_settings import TOKENS_ENV, WEBHOOK_SECRET_ENV, ApiConfig, ApiSecrets
from lipdub.config import PipelineConfig, config_from_mapping, load_config

SERVABLE_API = {"input_prefixes": ["s3://media/in/"], "output_root": "s3://media/out"}


# --- ApiConfig ----------------------------------------------------------------------------------

def test_defaults_accept_nothing() -> None:
    api = PipelineConfig().api
    assert api == ApiConfig()
    assert (api.input_prefixes, api.output_prefixes, api.callback_prefixes) == ((), (), ())
    assert api.output_root is None and api.schemes == ("file", "s3")


def test_lists_in_the_api_section_become_tuples() -> None:
    config = config_from_mapping({"api": {
        "input_prefixes": ["s3://media/in/", "/data/in/"], "output_prefixes": ["s3://media/out/"],
        "schemes": ["s3"], "callback_prefixes": ["https://hooks.example.com/"], "max_running": 2,
    }})
    api = config.api
    assert api.input_prefixes == ("s3://media/in/", "/data/in/")
    assert api.output_prefixes == ("s3://media/out/",)
    assert api.schemes == ("s3",)
    assert api.callback_prefixes == ("https://hooks.example.com/",)
    assert api.max_running == 2
    assert all(isinstance(value, tuple) for value in (api.input_prefixes, api.output_prefixes, api.schemes, api.callback_prefixes))
    assert hash(api) == hash(dataclasses.replace(api))  # frozen and all tuples: hashable, compares by value


def test_a_single_string_is_one_prefix_not_its_characters() -> None:
    api = config_from_mapping({"api": {"input_prefixes": "s3://media/in/", "schemes": "s3"}}).api
    assert api.input_prefixes == ("s3://media/in/",) and api.schemes == ("s3",)


def test_only_the_given_api_keys_change() -> None:
    base = config_from_mapping({"api": {"input_prefixes": ["/in/"], "max_batch_items": 10}})
    config = config_from_mapping({"api": {"max_batch_items": 20}}, base)
    assert config.api.input_prefixes == ("/in/",) and config.api.max_batch_items == 20
    assert config.api.list_limit == ApiConfig().list_limit


def test_an_empty_api_section_keeps_the_defaults() -> None:
    assert config_from_mapping({"api": None}).api == ApiConfig()
    assert config_from_mapping({"api": {}}).api == ApiConfig()


def test_an_unknown_api_key_is_an_error() -> None:
    with pytest.raises(TypeError, match="input_prefix"):
        config_from_mapping({"api": {"input_prefix": ["/in/"]}})  # a typo of input_prefixes


def test_an_unknown_section_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown config keys"):
        config_from_mapping({"apis": {"input_prefixes": ["/in/"]}})


def test_the_api_section_loads_from_a_yaml_file(tmp_path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("api:\n  input_prefixes:\n    - s3://media/in/\n  output_root: s3://media/out\n  max_running: 3\n")
    api = load_config(str(path)).api
    assert (api.input_prefixes, api.output_root, api.max_running) == (("s3://media/in/",), "s3://media/out", 3)


def test_api_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ApiConfig().max_running = 4  # type: ignore[misc]


def test_api_settings_never_change_the_output_fingerprint() -> None:
    plain = PipelineConfig()
    served = config_from_mapping({"api": {
        **SERVABLE_API, "state_root": "s3://media/state", "max_running": 4, "estimate_fps_per_cpu": 9.0,
        "callback_prefixes": ["https://hooks.example.com/"],
    }})
    assert served.api != plain.api
    assert served.output_fingerprint_salt() == plain.output_fingerprint_salt()
    assert served.analysis_fingerprint_salt() == plain.analysis_fingerprint_salt()
    # While an output setting does change it (the salt is not constant).
    rendered = config_from_mapping({"encode": {"crf": PipelineConfig().encode.crf + 1}})
    assert rendered.output_fingerprint_salt() != plain.output_fingerprint_salt()


# --- ApiSecrets ---------------------------------------------------------------------------------

def test_secrets_from_an_empty_environment(monkeypatch) -> None:
    monkeypatch.delenv(TOKENS_ENV, raising=False)
    monkeypatch.delenv(WEBHOOK_SECRET_ENV, raising=False)
    assert ApiSecrets.from_env() == ApiSecrets(tokens=(), webhook_secret=None)


def test_tokens_are_comma_separated_with_blanks_dropped(monkeypatch) -> None:
    monkeypatch.setenv(TOKENS_ENV, " tok-alpha, ,tok-beta,,  tok-gamma  ,")
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, "whsec-1")
    secrets = ApiSecrets.from_env()
    assert secrets.tokens == ("tok-alpha", "tok-beta", "tok-gamma")
    assert secrets.webhook_secret == "whsec-1"


@pytest.mark.parametrize("value", ["", " ", ",", " , ,"])
def test_only_blank_tokens_are_no_tokens(monkeypatch, value: str) -> None:
    monkeypatch.setenv(TOKENS_ENV, value)
    assert ApiSecrets.from_env().tokens == ()


def test_an_empty_webhook_secret_is_none(monkeypatch) -> None:
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, "")
    assert ApiSecrets.from_env().webhook_secret is None


def test_secrets_stay_out_of_repr(monkeypatch) -> None:
    monkeypatch.setenv(TOKENS_ENV, "tok-very-secret")
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, "whsec-very-secret")
    text = repr(ApiSecrets.from_env())
    assert "very-secret" not in text


# --- check_startable ----------------------------------------------------------------------------

def test_a_complete_setup_can_start() -> None:
    from lipdub.api.deployment import check_startable

    config = config_from_mapping({"api": SERVABLE_API})
    assert check_startable(config, ApiSecrets(tokens=("tok-alpha",))) == []


def test_output_prefixes_alone_are_enough_for_outputs() -> None:
    from lipdub.api.deployment import check_startable

    config = config_from_mapping({"api": {"input_prefixes": ["/in/"], "output_prefixes": ["/out/"]}})
    assert check_startable(config, ApiSecrets(tokens=("tok-alpha",))) == []


def test_the_defaults_list_every_problem() -> None:
    from lipdub.api.deployment import check_startable

    problems = check_startable(PipelineConfig(), ApiSecrets())
    assert len(problems) == 3
    assert any(TOKENS_ENV in p for p in problems)
    assert any("input_prefixes" in p for p in problems)
    assert any("output_root" in p for p in problems)


@pytest.mark.parametrize(("missing", "expected"), [
    ("tokens", TOKENS_ENV), ("input_prefixes", "api.input_prefixes"), ("output_root", "api.output_root"),
])
def test_each_missing_setting_is_one_problem(missing: str, expected: str) -> None:
    from lipdub.api.deployment import check_startable

    api = {key: value for key, value in SERVABLE_API.items() if key != missing}
    secrets = ApiSecrets() if missing == "tokens" else ApiSecrets(tokens=("tok-alpha",))
    problems = check_startable(config_from_mapping({"api": api}), secrets)
    assert len(problems) == 1 and expected in problems[0]
