"""Bearer tokens and the URI allow-list: what a caller may and may not make the server touch."""
from __future__ import annotations

import os

import pytest

from lipdub.api.errors import ApiError
from lipdub.api.security import (
    UriPolicy,
    bearer_token_ok,
    callback_policy,
    require_bearer,
    token_id,
)

TOKENS = ("tok-alpha", "tok-beta")


# --- errors -----------------------------------------------------------------------------------

def test_api_error_carries_status_code_and_message() -> None:
    e = ApiError(404, "not_found", "no dub with id x")
    assert (e.status, e.code, e.message, str(e)) == (404, "not_found", "no dub with id x", "no dub with id x")
    assert e.to_json() == {"error": {"code": "not_found", "message": "no dub with id x"}}


# --- bearer tokens ----------------------------------------------------------------------------

@pytest.mark.parametrize("header", ["Bearer tok-alpha", "Bearer tok-beta", "bearer tok-alpha",
                                    "BEARER tok-beta"])
def test_configured_tokens_are_accepted_with_any_scheme_case(header: str) -> None:
    assert bearer_token_ok(header, TOKENS)


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Bearer tok-gamma", "Bearer tok-alph", "Bearer tok-alpha2",
    "Basic dG9rLWFscGhhOg==", "Basic tok-alpha", "tok-alpha", "Bearer  tok-alpha",
    " Bearer tok-alpha", "Bearer tok-alpha ", "Bearer tok-alpha tok-beta", "Bearer\ttok-alpha",
    "Bearer tok-\u00e9",
])
def test_wrong_missing_or_odd_headers_are_refused(header: str | None) -> None:
    assert not bearer_token_ok(header, TOKENS)


def test_no_configured_tokens_refuses_everything() -> None:
    assert not bearer_token_ok("Bearer tok-alpha", [])
    assert not bearer_token_ok("Bearer ", [""])  # an empty configured token matches nothing


def test_require_bearer_raises_401_without_echoing_the_token() -> None:
    require_bearer("Bearer tok-beta", TOKENS)  # no exception
    with pytest.raises(ApiError) as missing:
        require_bearer(None, TOKENS)
    assert (missing.value.status, missing.value.code) == (401, "unauthorized")
    assert "bearer token is needed" in missing.value.message
    with pytest.raises(ApiError) as wrong:
        require_bearer("Bearer secret-guess-123", TOKENS)
    assert wrong.value.status == 401 and "not valid" in wrong.value.message
    assert "secret-guess-123" not in wrong.value.message


def test_token_id_is_short_stable_and_does_not_reveal_the_token() -> None:
    assert token_id("tok-alpha") == token_id("tok-alpha")
    assert token_id("tok-alpha") != token_id("tok-beta")
    assert len(token_id("tok-alpha")) == 16 and "tok" not in token_id("tok-alpha")


# --- local paths ------------------------------------------------------------------------------

@pytest.fixture
def media(tmp_path):
    """tmp/in (allowed), tmp/input2 and tmp/secret (not allowed), with a few files."""
    for folder in ("in", "in/sub", "input2", "secret"):
        (tmp_path / folder).mkdir()
    for name in ("in/a.mp4", "in/sub/b.wav", "input2/x.mp4", "secret/key.pem"):
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


def _local_policy(*prefixes: str) -> UriPolicy:
    return UriPolicy(frozenset({"file", "s3"}), prefixes)


def _refused(policy: UriPolicy, uri: str, what: str = "video_uri") -> ApiError:
    with pytest.raises(ApiError) as caught:
        policy.check(uri, what)
    return caught.value


def test_paths_under_the_prefix_are_allowed_and_normalized(media) -> None:
    policy = _local_policy(str(media / "in"))
    assert policy.check(str(media / "in/a.mp4"), "video_uri") == str(media / "in/a.mp4")
    assert policy.check(f"file://{media}/in/sub/b.wav", "audio_uri") == str(media / "in/sub/b.wav")
    assert policy.check(f"{media}/in/sub/../a.mp4", "video_uri") == str(media / "in/a.mp4")
    assert policy.check(str(media / "in/not-yet-written.mp4"), "output_uri").endswith("not-yet-written.mp4")


def test_prefix_match_is_on_a_path_boundary(media) -> None:
    policy = _local_policy(str(media / "in"))
    for uri in (str(media / "input2/x.mp4"), str(media / "in"), str(media / "in") + "/"):
        error = _refused(policy, uri)
        assert (error.status, error.code) == (403, "uri_not_allowed")


def test_a_prefix_with_a_trailing_slash_works_the_same(media) -> None:
    policy = _local_policy(str(media / "in") + "/")
    assert policy.check(str(media / "in/a.mp4"), "video_uri") == str(media / "in/a.mp4")
    assert _refused(policy, str(media / "input2/x.mp4")).status == 403


def test_dot_dot_cannot_escape_the_prefix(media) -> None:
    error = _refused(_local_policy(str(media / "in")), f"{media}/in/../secret/key.pem")
    assert error.status == 403 and "video_uri" in error.message


def test_a_symlink_inside_the_prefix_cannot_point_outside(media) -> None:
    os.symlink(media / "secret", media / "in" / "escape")
    os.symlink(media / "secret/key.pem", media / "in" / "key.mp4")
    policy = _local_policy(str(media / "in"))
    assert _refused(policy, str(media / "in/escape/key.pem")).code == "uri_not_allowed"
    assert _refused(policy, str(media / "in/key.mp4")).code == "uri_not_allowed"


def test_a_symlinked_prefix_is_resolved_too(media) -> None:
    os.symlink(media / "in", media / "in-link")
    policy = _local_policy(str(media / "in-link"))
    assert policy.check(str(media / "in-link/a.mp4"), "video_uri") == str(media / "in/a.mp4")
    assert policy.check(str(media / "in/a.mp4"), "video_uri") == str(media / "in/a.mp4")


@pytest.mark.parametrize("uri", ["in/a.mp4", "./a.mp4", "a.mp4", "file://in/a.mp4", "file:in/a.mp4"])
def test_relative_local_paths_are_bad_requests(uri: str, media) -> None:
    error = _refused(_local_policy(str(media / "in")), uri)
    assert (error.status, error.code) == (400, "bad_uri")


def test_relative_prefixes_are_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="absolute"):
        UriPolicy(frozenset({"file"}), ("data/in",))


# --- remote URIs ------------------------------------------------------------------------------

S3 = UriPolicy(frozenset({"file", "s3"}), ("s3://bucket/in", "s3://media/dub/"))


def test_remote_uris_under_a_prefix_are_allowed() -> None:
    assert S3.check("s3://bucket/in/x.mp4", "video_uri") == "s3://bucket/in/x.mp4"
    assert S3.check("s3://media/dub/fr/x.mp4", "output_uri") == "s3://media/dub/fr/x.mp4"
    assert S3.check("S3://BUCKET/in/X.mp4", "video_uri") == "s3://bucket/in/X.mp4"  # key case kept


@pytest.mark.parametrize("uri", ["s3://bucket/input/x.mp4", "s3://bucket/in", "s3://bucket/in/",
                                 "s3://bucket2/in/x.mp4", "s3://other/in/x.mp4", "s3://media/dubbed/x",
                                 "s3://media/dub/"])
def test_remote_prefix_match_is_on_a_slash_boundary(uri: str) -> None:
    error = _refused(S3, uri)
    assert (error.status, error.code) == (403, "uri_not_allowed")
    assert "s3://bucket/in" in error.message and "video_uri" in error.message


@pytest.mark.parametrize("uri", [
    "s3://bucket/in/../secret/x.mp4", "s3://bucket/in/./x.mp4", "s3://bucket/in/x/..",
    "s3://bucket/in/%2e%2e/secret/x", "s3://bucket/in/%2E%2E/secret/x", "s3://bucket/in/..%2Fsecret",
    "s3://bucket/in/a%2fb", "s3://bucket/in\\..\\secret", "s3://bucket/in/x#/../../secret",
])
def test_remote_traversal_is_a_bad_request(uri: str) -> None:
    error = _refused(S3, uri)
    assert (error.status, error.code) == (400, "bad_uri")


@pytest.mark.parametrize("uri", ["s3:bucket/in/x.mp4", "s3:///in/x.mp4", "s3://"])
def test_malformed_remote_uris_are_bad_requests(uri: str) -> None:
    assert _refused(S3, uri).code == "bad_uri"


@pytest.mark.parametrize("uri", ["gs://bucket/in/x.mp4", "https://bucket/in/x.mp4", "ftp://h/in/x",
                                 "javascript:alert(1)", "C:/in/x.mp4"])
def test_schemes_outside_the_policy_are_forbidden(uri: str) -> None:
    error = _refused(S3, uri)
    assert (error.status, error.code) == (403, "uri_not_allowed")
    assert "file, s3" in error.message


def test_plain_paths_count_as_file_scheme(media) -> None:
    s3_only = UriPolicy(frozenset({"s3"}), ("s3://bucket/in", str(media / "in")))
    assert _refused(s3_only, str(media / "in/a.mp4")).status == 403


def test_empty_prefix_list_refuses_every_uri(media) -> None:
    closed = UriPolicy(frozenset({"file", "s3"}), ())
    for uri in (str(media / "in/a.mp4"), "s3://bucket/in/x.mp4", ""):
        error = _refused(closed, uri, "audio_uri")
        assert error.status == 403 and "allows no URIs for audio_uri" in error.message


@pytest.mark.parametrize("uri", ["", "   ", "s3://bucket/in/x\x00.mp4", "s3://bucket/in/x\n.mp4",
                                 "s3://bucket/in/x\x7f", "s3://bucket/in/x\x85", "/data/in/\x00"])
def test_empty_uris_and_control_characters_are_bad_requests(uri: str) -> None:
    error = _refused(S3, uri)
    assert (error.status, error.code) == (400, "bad_uri")


def test_over_long_uris_are_bad_requests() -> None:
    policy = UriPolicy(frozenset({"s3"}), ("s3://bucket/in",), max_length=64)
    ok = "s3://bucket/in/" + "x" * (64 - len("s3://bucket/in/"))
    assert policy.check(ok, "video_uri") == ok
    error = _refused(policy, ok + "x")
    assert error.status == 400 and "longer than 64" in error.message


# --- callback URLs ----------------------------------------------------------------------------

HOOKS = callback_policy(["https://hooks.example.com/lipdub", "http://127.0.0.1:8080/"])


def test_callbacks_under_a_prefix_are_allowed() -> None:
    assert HOOKS.check("https://hooks.example.com/lipdub/done", "callback_url") == \
        "https://hooks.example.com/lipdub/done"
    assert HOOKS.check("https://Hooks.Example.com/lipdub/done?job=1", "callback_url") == \
        "https://hooks.example.com/lipdub/done?job=1"
    assert HOOKS.check("http://127.0.0.1:8080/hook", "callback_url") == "http://127.0.0.1:8080/hook"


@pytest.mark.parametrize("url", ["https://hooks.example.com/lipdubbed", "https://hooks.example.com.evil.io/lipdub/x",
                                 "http://hooks.example.com/lipdub/x", "http://127.0.0.1:8081/hook",
                                 "http://169.254.169.254/latest/meta-data", "s3://bucket/in/x",
                                 "/tmp/hook", "file:///etc/passwd"])
def test_callbacks_elsewhere_are_forbidden(url: str) -> None:
    error = _refused(HOOKS, url, "callback_url")
    assert (error.status, error.code) == (403, "uri_not_allowed")
    assert "callback_url" in error.message and "https://hooks.example.com/lipdub" in error.message


@pytest.mark.parametrize("url", ["https://user:pass@hooks.example.com/lipdub/x",
                                 "https://hooks.example.com@evil.io/lipdub/x",
                                 "https://hooks.example.com/lipdub/../admin", "http://127.0.0.1:port/x",
                                 "https://[::1/lipdub"])
def test_callbacks_with_credentials_or_tricks_are_bad_requests(url: str) -> None:
    error = _refused(HOOKS, url, "callback_url")
    assert (error.status, error.code) == (400, "bad_uri")
