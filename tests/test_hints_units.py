"""The error-hint table and the provider data file: every entry explains its provider's real
error shape, an error nobody knows gets no hint, and every entry says where it comes from."""

from __future__ import annotations

import json
import re

import pytest

from harness.provider_errors import CASES, MAIL
from pizauth_dbus.config import hints
from pizauth_dbus.config.providers import Hint, load, parse
from pizauth_dbus.oauth.protocol import describe_http_error


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
