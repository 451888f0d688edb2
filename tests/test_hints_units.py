"""The error-hint table and the provider data file: every entry explains its provider's real
error shape, an error nobody knows gets no hint, and every entry says where it comes from."""

from __future__ import annotations

import json
import re

import pytest

from pizauth_dbus.config import hints
from pizauth_dbus.config.providers import Hint, load, parse
from pizauth_dbus.oauth.protocol import describe_http_error

MAIL = "https://mail.google.com/"


def _ms(code: int, error: str, text: str) -> dict[str, object]:
    """An answer in the shape Microsoft's token endpoint sends."""
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {text} Trace ID: 0f4c Correlation ID: 9a1b "
        "Timestamp: 2026-12-04 10:00:00Z",
        "error_codes": [code],
        "timestamp": "2026-12-04 10:00:00Z",
        "trace_id": "0f4c",
        "correlation_id": "9a1b",
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }


CASES: list[tuple[str, dict[str, object], tuple[str, ...], str]] = [
    (
        "ms-personal-account",
        _ms(
            50020,
            "invalid_request",
            "User account 'me@outlook.com' from identity provider "
            "'live.com' does not exist in tenant 'Contoso' and cannot access the application.",
        ),
        (),
        "redirect",
    ),
    (
        "ms-redirect-mismatch",
        _ms(
            50011,
            "invalid_request",
            "The redirect URI 'http://localhost:4711/' specified in "
            "the request does not match the redirect URIs configured for the application.",
        ),
        (),
        "redirect",
    ),
    (
        "ms-admin-consent",
        _ms(
            65001,
            "invalid_grant",
            "The user or administrator has not consented to use the "
            "application with ID '1234' named 'mail'.",
        ),
        (),
        "redirect",
    ),
    (
        "ms-app-disabled",
        _ms(7000112, "unauthorized_client", "Application 'mail'(1234) is disabled."),
        (),
        "redirect",
    ),
    (
        "ms-conditional-access",
        _ms(
            53003,
            "invalid_grant",
            "Access has been blocked by Conditional Access policies. "
            "The access policy does not allow token issuance.",
        ),
        (),
        "device",
    ),
    (
        "ms-refresh-inactive",
        _ms(
            700082,
            "invalid_grant",
            "The refresh token has expired due to inactivity. The "
            "token was issued on 2026-08-01 and was inactive for 90.00:00:00.",
        ),
        (),
        "refresh",
    ),
    (
        "ms-public-client",
        _ms(
            7000218,
            "invalid_client",
            "The request body must contain the following parameter: "
            "'client_assertion' or 'client_secret'.",
        ),
        (),
        "redirect",
    ),
    (
        "ms-common-single-tenant",
        _ms(
            50194,
            "invalid_request",
            "Application 'mail'(1234) is not configured as a "
            "multi-tenant application. Usage of the /common endpoint is not supported.",
        ),
        (),
        "redirect",
    ),
    (
        "google-testing-expired",
        {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
        (MAIL,),
        "refresh",
    ),
    ("google-device-mail-scope", {"error": "invalid_scope"}, (MAIL,), "device"),
    (
        "google-client-not-found",
        {"error": "invalid_client", "error_description": "The OAuth client was not found."},
        (MAIL,),
        "redirect",
    ),
]


def _entry(hint_id: str) -> Hint:
    (entry,) = [h for h in load().hints if h.id == hint_id]
    return entry


def test_every_entry_has_a_case_here() -> None:
    assert sorted(h.id for h in load().hints) == sorted(c[0] for c in CASES)


@pytest.mark.parametrize(("hint_id", "body", "scopes", "flow"), CASES, ids=[c[0] for c in CASES])
def test_each_hint_explains_its_providers_answer(
    hint_id: str, body: dict[str, object], scopes: tuple[str, ...], flow: str
) -> None:
    # The message as the server words it from the HTTP answer (what $PIZAUTH_MSG carries).
    message = "Authentication for acct failed: " + describe_http_error(
        400, json.dumps(body).encode()
    )
    assert hints.hint_for(message, scopes=scopes, flow=flow) == _entry(hint_id).hint


def test_microsofts_error_codes_count_without_the_description() -> None:
    assert hints.hint_for("invalid_grant", codes=[700082]) == _entry("ms-refresh-inactive").hint


def test_the_personal_account_page_text_is_recognised() -> None:
    text = "You can't sign in here with a personal account. Use your work or school account."
    assert hints.hint_for(f"access_denied ({text})") == _entry("ms-personal-account").hint


@pytest.mark.parametrize(
    ("message", "scopes", "flow"),
    [
        ("HTTP code 400 (invalid_grant: AADSTS99999: nobody knows this one)", (), "redirect"),
        ("HTTP code 400 (invalid_grant: code expired)", (), "redirect"),
        ("HTTP code 400 (invalid_scope)", ("mail",), "device"),  # not Google's mail scope
        ("HTTP code 400 (invalid_scope)", (MAIL,), "redirect"),  # not the device flow
        ("HTTP code 503", (), "refresh"),
        ("Invalid JSON: Expecting value: line 1 column 1 (char 0)", (), "redirect"),
        ("access_denied (End-User aborted interaction)", (), "redirect"),
    ],
)
def test_unknown_errors_get_no_hint(message: str, scopes: tuple[str, ...], flow: str) -> None:
    assert hints.hint_for(message, scopes=scopes, flow=flow) is None


def test_every_entry_names_its_source_and_when_it_was_checked() -> None:
    data = load()
    for entry in data.hints:
        assert entry.source.startswith("https://"), entry.id
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", entry.checked), entry.id
        assert entry.hint and entry.hint.endswith("."), entry.id
    for provider in data.providers.values():
        assert provider.sources and all(s.startswith("https://") for s in provider.sources)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", provider.checked), provider.key
        assert {"imap", "smtp", "pop"} <= set(provider.scopes) <= set(provider.servers) | {"pop"}


def test_microsofts_scopes_use_the_host_its_own_mail_clients_use() -> None:
    ms = load().providers["microsoft"]
    assert all(s.startswith("https://outlook.office.com/") for s in ms.scopes.values())
    assert ms.refresh_scopes == ("offline_access",)
    assert ms.endpoint(ms.token_uri, "consumers") == (
        "https://login.microsoftonline.com/consumers/oauth2/v2.0/token"
    )


def test_no_client_id_is_shipped() -> None:
    """The data names no application's client ID: each person registers their own."""
    text = _data_text()
    assert "client_id" not in text
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text)
    assert '.apps.googleusercontent.com"' not in text


def _data_text() -> str:
    from importlib import resources

    return resources.files("pizauth_dbus.config").joinpath("providers.json").read_text()


def test_a_malformed_data_file_is_refused() -> None:
    with pytest.raises(ValueError):
        parse('{"version": 2, "providers": {}, "hints": []}')
    with pytest.raises((ValueError, KeyError)):
        parse('{"version": 1, "providers": {"x": {}}, "hints": []}')
