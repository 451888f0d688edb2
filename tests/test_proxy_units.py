"""Which proxy the standard variables choose for a URL (pure: a mapping in, a choice out)."""

from __future__ import annotations

import pytest

from pizauth_dbus.proxyenv import ProxyChoice, describe, proxy_for, redact

TOKEN = "https://login.example.com/oauth2/token"


@pytest.mark.parametrize(
    ("env", "url", "expected"),
    [
        ({}, TOKEN, ProxyChoice(None)),
        ({"HTTPS_PROXY": "http://p:3128"}, TOKEN, ProxyChoice("http://p:3128")),
        ({"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:2"}, TOKEN,
         ProxyChoice("http://low:1")),
        ({"HTTP_PROXY": "http://p:3128"}, TOKEN, ProxyChoice(None)),  # the scheme's own only
        ({"ALL_PROXY": "http://all:8080"}, TOKEN, ProxyChoice("http://all:8080")),
        ({"https_proxy": "p.example:3128"}, TOKEN, ProxyChoice("http://p.example:3128")),
        ({"https_proxy": "http://p:1", "no_proxy": "example.com"}, TOKEN, ProxyChoice(None)),
        ({"https_proxy": "http://p:1", "NO_PROXY": "*"}, TOKEN, ProxyChoice(None)),
        ({"https_proxy": "http://p:1", "no_proxy": "other.org"}, TOKEN, ProxyChoice("http://p:1")),
        ({"http_proxy": "http://p:1", "no_proxy": "127.0.0.1"}, "http://127.0.0.1:5/t",
         ProxyChoice(None)),
        ({"ALL_PROXY": "socks5://s:1080"}, TOKEN, ProxyChoice(None, ignored="socks5://s:1080")),
        ({"https_proxy": "", "HTTPS_PROXY": "http://up:2"}, TOKEN, ProxyChoice(None)),
    ],
)  # fmt: skip
def test_the_proxy_for_a_url(env: dict[str, str], url: str, expected: ProxyChoice) -> None:
    assert proxy_for(url, env) == expected


def test_credentials_never_leave_in_descriptions() -> None:
    assert redact("http://user:secret@p:3128") == "http://***@p:3128"
    assert redact("http://p:3128") == "http://p:3128"
    env = {"HTTPS_PROXY": "http://u:pw@p:1", "no_proxy": "localhost", "HOME": "/h"}
    assert describe(env) == {"https_proxy": "http://***@p:1", "no_proxy": "localhost"}
