"""Unit tests for the pure parts of :mod:`pizauth_dbus.oauth.protocol`: the authorisation URL, PKCE,
redirect URIs, and reading token responses."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace
from urllib.parse import parse_qsl, urlsplit

import pytest

from pizauth_dbus.config.model import Account
from pizauth_dbus.oauth.protocol import (
    MISSING,
    TokenResponse,
    auth_url,
    describe_http_error,
    form_encode,
    new_auth_request,
    parse_token_response,
    pkce_challenge,
    redirect_uri_with_port,
)
from pizauth_dbus.timing import tunable_seconds

ACCOUNT = Account(
    name="acct",
    auth_uri="https://example.test/auth",
    token_uri="https://example.test/token",
    client_id="the client",
    client_secret="s3cret",
    scopes=("openid", "offline_access"),
    auth_uri_fields=(("prompt", "consent"), ("login_hint", "a b*~é"), ("prompt", "again")),
)


def test_auth_url_has_upstreams_parameters_in_upstreams_order() -> None:
    url = auth_url(ACCOUNT, "http://localhost:1234/", "STATE", "CHALLENGE")
    assert url == (
        "https://example.test/auth?access_type=offline&code_challenge=CHALLENGE"
        "&code_challenge_method=S256&client_id=the+client"
        "&redirect_uri=http%3A%2F%2Flocalhost%3A1234%2F&response_type=code&state=STATE"
        "&scope=openid+offline_access&prompt=consent&login_hint=a+b*%7E%C3%A9&prompt=again"
    )
    assert "s3cret" not in url


def test_auth_url_without_scopes_has_no_scope() -> None:
    url = auth_url(replace(ACCOUNT, scopes=(), auth_uri_fields=()), "http://l/", "S", "C")
    assert [k for k, _ in parse_qsl(urlsplit(url).query)][-1] == "state"


@pytest.mark.parametrize(
    ("auth_uri", "start"),
    [
        # The provider's own query is kept, pizauth's fields after it.
        ("https://example.test/auth?tenant=x", "https://example.test/auth?tenant=x&access_type="),
        ("https://example.test/auth?", "https://example.test/auth?access_type="),
        ("HTTPS://Example.TEST", "https://example.test/?access_type="),
        ("http://127.0.0.1:9000/a/b", "http://127.0.0.1:9000/a/b?access_type="),
        # What upstream's WHATWG URL parser prints for each: spaces and non-ASCII encoded in
        # path and query, existing escapes kept, international names in punycode, dot
        # segments resolved, the default port dropped, a quote encoded in a special query.
        ("https://x.test/a b/é", "https://x.test/a%20b/%C3%A9?access_type="),
        ("https://x.test/p?t=a b&u=é", "https://x.test/p?t=a%20b&u=%C3%A9&access_type="),
        ("https://x.test/%7e?%41", "https://x.test/%7e?%41&access_type="),
        ("https://Bücher.Example/auth", "https://xn--bcher-kva.example/auth?access_type="),
        ("https://x.test:443/auth", "https://x.test/auth?access_type="),
        ("http://x.test:80/auth", "http://x.test/auth?access_type="),
        ("https://x.test:80/auth", "https://x.test:80/auth?access_type="),
        ("https://x.test/a/./b/../c", "https://x.test/a/c?access_type="),
        ("https://x.test/p?q='\"<>", "https://x.test/p?q=%27%22%3C%3E&access_type="),
        ("https://x.test/p?q=`{}|", "https://x.test/p?q=`{}|&access_type="),
        ("https://x.test/`{}", "https://x.test/%60%7B%7D?access_type="),
    ],
)
def test_auth_url_appends_to_the_providers_uri_normalised_as_upstream_does(
    auth_uri: str, start: str
) -> None:
    url = auth_url(replace(ACCOUNT, auth_uri=auth_uri), "http://l/", "S", "C")
    assert url.startswith(start), url


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("a b", "a+b"),
        ("*-._~", "*-._%7E"),
        ("http://x/?a=1&b", "http%3A%2F%2Fx%2F%3Fa%3D1%26b"),
        ("é", "%C3%A9"),
        ("+", "%2B"),
    ],
)
def test_form_encoding_is_the_html_standards(raw: str, encoded: str) -> None:
    assert form_encode(raw) == encoded


def test_each_auth_request_is_new_and_uses_pkce_s256() -> None:
    a = new_auth_request(ACCOUNT, "http://localhost:1/")
    b = new_auth_request(ACCOUNT, "http://localhost:1/")
    assert a.state != b.state and a.code_verifier != b.code_verifier
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", a.state)  # 32 random bytes
    assert re.fullmatch(r"[A-Za-z0-9_-]{86}", a.code_verifier)  # 64 random bytes
    query = dict(parse_qsl(urlsplit(a.url).query))
    digest = hashlib.sha256(a.code_verifier.encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert query["code_challenge"] == pkce_challenge(a.code_verifier)
    assert (query["state"], query["redirect_uri"]) == (a.state, a.redirect_uri)


def test_pkce_challenge_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.mark.parametrize(
    ("redirect_uri", "http", "https", "expected"),
    [
        ("http://localhost/", 8080, 8443, "http://localhost:8080/"),
        ("http://localhost", 8080, None, "http://localhost:8080/"),
        ("http://localhost:1/cb?x=1", 8080, None, "http://localhost:8080/cb?x=1"),
        ("https://localhost/", 8080, 8443, "https://localhost:8443/"),
        ("HTTPS://LocalHost/", None, 8443, "https://localhost:8443/"),
        ("http://[::1]/", 8080, None, "http://[::1]:8080/"),
        ("http://127.0.0.1/", 8080, 8443, "http://127.0.0.1:8080/"),
        # The scheme's default port is left out, as upstream's URL library leaves it out.
        ("http://localhost/", 80, None, "http://localhost/"),
        ("http://localhost:8080/cb", 80, 443, "http://localhost/cb"),
        ("https://localhost/", 80, 443, "https://localhost/"),
        ("https://localhost/", 443, None, "https://localhost/"),  # via the HTTP listener
        ("http://localhost/", 443, None, "http://localhost:443/"),
    ],
)
def test_redirect_uri_gets_the_listeners_port(
    redirect_uri: str, http: int | None, https: int | None, expected: str
) -> None:
    acct = replace(ACCOUNT, redirect_uri=redirect_uri)
    assert redirect_uri_with_port(acct, http, https) == expected


GOOD = {"access_token": "at", "token_type": "Bearer", "expires_in": 60}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (GOOD, TokenResponse("at", 60, MISSING)),
        ({**GOOD, "token_type": "bearer"}, TokenResponse("at", 60, MISSING)),
        ({**GOOD, "refresh_token": "rt"}, TokenResponse("at", 60, "rt")),
        ({**GOOD, "refresh_token": None}, TokenResponse("at", 60, None)),
        ({**GOOD, "refresh_token": 7}, TokenResponse("at", 60, None)),
        ({**GOOD, "expires_in": 0}, TokenResponse("at", 0, MISSING)),
        ({**GOOD, "expires_in": 2**64 - 1}, TokenResponse("at", 2**64 - 1, MISSING)),
        ({**GOOD, "expires_in": 2**64}, None),
        ({**GOOD, "expires_in": -1}, None),
        ({**GOOD, "expires_in": 60.0}, None),
        ({**GOOD, "expires_in": "60"}, None),
        ({**GOOD, "expires_in": True}, None),
        ({"access_token": "at", "token_type": "Bearer"}, None),
        ({**GOOD, "token_type": "MAC"}, None),
        ({"token_type": "Bearer", "expires_in": 60}, None),
        ({**GOOD, "access_token": 5}, None),
        ([GOOD], None),
        ("text", None),
    ],
)
def test_reading_token_responses(data: object, expected: TokenResponse | None) -> None:
    assert parse_token_response(data) == expected


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (400, b'{"error": "invalid_grant"}', "HTTP code 400 (invalid_grant)"),
        (
            400,
            b'{"error": "invalid_grant", "error_description": "grant request is invalid"}',
            "HTTP code 400 (invalid_grant: grant request is invalid)",
        ),
        (503, b"<html>busy</html>", "HTTP code 503"),
        (401, b"", "HTTP code 401"),
        (400, b'{"error": 5}', "HTTP code 400"),
    ],
)
def test_http_errors_carry_the_providers_words(status: int, body: bytes, message: str) -> None:
    assert describe_http_error(status, body) == message


def test_tunable_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIZAUTH_TEST_KNOB", "0.25")
    assert tunable_seconds("PIZAUTH_TEST_KNOB", 30.0) == 0.25
    for bad in ("soon", "-1", ""):
        monkeypatch.setenv("PIZAUTH_TEST_KNOB", bad)
        assert tunable_seconds("PIZAUTH_TEST_KNOB", 30.0) == 30.0
    monkeypatch.delenv("PIZAUTH_TEST_KNOB")
    assert tunable_seconds("PIZAUTH_TEST_KNOB", 30.0) == 30.0
