"""Unit tests for the redirect listener's pure parts: redirect matching and the decision
sequence, against a real :class:`~pizauth_dbus.server.state.Store`."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from pizauth_dbus.config.loader import parse
from pizauth_dbus.server.redirects import NO_CODE, NO_MATCH, SUCCESS, decide
from pizauth_dbus.server.state import Entry, Pending, Store
from pizauth_dbus.urls import redirect_matches

EXPECTED = "http://localhost:8080/cb?tenant=x"


@pytest.mark.parametrize(
    ("actual", "matches"),
    [
        ("http://localhost:8080/cb?tenant=x&code=c&state=s", True),
        ("http://localhost:8080/cb?code=c&tenant=x&state=s&iss=http%3A%2F%2Fi", True),
        ("http://LOCALHOST:8080/cb?tenant=x", True),
        ("HTTP://localhost:8080/cb?tenant=x", True),
        ("http://localhost:8080/cb?code=c", False),  # an expected pair is missing
        ("http://localhost:8080/cb?tenant=y", False),
        ("http://localhost:8081/cb?tenant=x", False),
        ("http://127.0.0.1:8080/cb?tenant=x", False),
        ("https://localhost:8080/cb?tenant=x", False),
        ("http://localhost:8080/cb/?tenant=x", False),
        ("http://localhost:8080/?tenant=x", False),
        ("http://localhost:8080/cb?tenant=x#frag", False),
        ("http://localhost:notaport/cb?tenant=x", False),
    ],
)
def test_redirect_matching(actual: str, matches: bool) -> None:
    assert redirect_matches(EXPECTED, actual) is matches


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        # Effective ports: a browser sent to http://localhost/ arrives with "Host: localhost".
        ("http://localhost/", "http://localhost/?state=s", True),
        ("http://localhost/", "http://localhost:80/?state=s", True),
        ("http://localhost:80/", "http://localhost/?state=s", True),
        ("https://localhost/", "https://localhost:443/?state=s", True),
        ("https://localhost/", "https://localhost/?state=s", True),
        ("http://localhost/", "http://localhost:443/?state=s", False),
        ("https://localhost/", "https://localhost:80/?state=s", False),
        ("http://localhost/", "http://localhost:8080/?state=s", False),
        ("http://localhost/", "http://localhost/?state=s#", False),  # an empty fragment too
    ],
)
def test_redirect_matching_compares_effective_ports(
    expected: str, actual: str, matches: bool
) -> None:
    assert redirect_matches(expected, actual) is matches


def test_a_bare_root_matches_with_or_without_slash() -> None:
    assert redirect_matches("http://localhost:1/", "http://localhost:1?state=s")
    assert redirect_matches("http://localhost:1/", "http://localhost:1/?state=s")


@dataclass
class Target:
    """Records what the decision sequence asks of the daemon."""

    store: Store
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    codes: list[tuple[str, str]] = field(default_factory=list)

    def authorisation_failed(self, name: str, entry: Entry, error: str, description: str) -> str:
        self.failed.append((name, error, description))
        return f"{error} ({description})"

    def code_received(self, name: str, entry: Entry, code: str) -> None:
        self.codes.append((name, code))


@pytest.fixture
def target() -> Target:
    store = Store(
        parse(
            'account "acct" {\n auth_uri = "http://127.0.0.1:1/a";\n'
            ' token_uri = "http://127.0.0.1:1/t";\n client_id = "c";\n}\n'
        )
    )
    entry = store.get("acct")
    store.replace("acct", entry.version, Pending("v", "S", "url", "http://localhost:9/"))
    return Target(store)


@pytest.mark.parametrize(
    ("url", "status", "text"),
    [
        ("http://localhost:9/favicon.ico", 404, ""),
        ("http://localhost:9/?code=c", 404, ""),
        ("http://localhost:9/?state=other&code=c", 200, NO_MATCH),
        ("http://localhost:9/?state=&code=c", 200, NO_MATCH),
        ("http://localhost:9/x?state=S&code=c", 404, ""),
        ("http://localhost:9/?state=S&iss=i", 400, NO_CODE),
        ("http://localhost:9/?state=S&code=c&iss=i", 200, SUCCESS),
        ("http://localhost:9/?state=S&state=other&code=c", 200, SUCCESS),  # the first counts
    ],
)
def test_decision_sequence(target: Target, url: str, status: int, text: str) -> None:
    page = decide(target, url)
    assert (page.status, page.message) == (status, text)
    assert target.failed == []
    assert target.codes == ([("acct", "c")] if text == SUCCESS else [])


def test_an_error_comes_before_a_code(target: Target) -> None:
    page = decide(target, "http://localhost:9/?state=S&code=c&error=access_denied")
    assert page.status == 400
    assert target.failed == [("acct", "access_denied", "")]
    assert target.codes == []
    decide(target, "http://localhost:9/?state=S&error=e&error_description=why+not")
    assert target.failed[-1] == ("acct", "e", "why not")


def test_pages_are_html_and_escaped(target: Target) -> None:
    page = decide(target, "http://localhost:9/?state=S&error=%3Cscript%3E")
    body = page.response().text or ""
    assert body.startswith("<!DOCTYPE html>")
    assert "<script>" not in body and "&lt;script&gt;" in body
