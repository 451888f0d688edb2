"""The device flow's configuration and its pure parts: ``device_auth_uri`` and what it changes
in the checks, the device code answer's parser, the status text, and dumps made before the
option existed."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from harness.texts import error_of
from pizauth_dbus.cli.output import status_line
from pizauth_dbus.config.loader import parse
from pizauth_dbus.config.model import SECURITY_FIELDS
from pizauth_dbus.oauth import device
from pizauth_dbus.oauth import protocol as oauth
from pizauth_dbus.server import dump

DEVICE = 'device_auth_uri = "https://login.example/devicecode"; token_uri = "https://t.example";'


def test_device_auth_uri_makes_auth_uri_optional() -> None:
    acct = parse(f'account "m" {{ {DEVICE} client_id = "c"; }}').accounts["m"]
    assert acct.device_auth_uri == "https://login.example/devicecode"
    assert acct.auth_uri == ""
    both = parse(f'account "m" {{ {DEVICE} auth_uri = "https://a.example"; client_id = "c"; }}')
    assert both.accounts["m"].auth_uri == "https://a.example"
    # Without it, upstream's rule and message stand.
    plain = 'account "m" { token_uri = "https://t.example"; client_id = "c"; }'
    assert "auth_uri not specified" in error_of(plain)
    # client_id and token_uri stay mandatory.
    assert "client_id not specified" in error_of(f'account "m" {{ {DEVICE} }}')
    assert "token_uri not specified" in error_of(
        'account "m" { device_auth_uri = "https://d.example"; client_id = "c"; }'
    )


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("ftp://d.example/", "not a valid HTTP or HTTPS URI"),
        ("https://d.example/#frag", "URI fragments ('#...') are not allowed"),
        ("devicecode", "Invalid URI: relative URL without a base"),
    ],
)
def test_device_auth_uri_is_checked_as_the_other_uris(uri: str, message: str) -> None:
    text = f'account "m" {{ device_auth_uri = "{uri}"; token_uri = "https://t"; client_id = "c"; }}'
    assert message in error_of(text)


def test_a_device_account_needs_no_redirect_listener() -> None:
    # Its redirect_uri is never used, so the HTTPS listener being off is no error for it...
    text = (
        "https_listen = none;\n"
        f'account "m" {{ {DEVICE} client_id = "c"; redirect_uri = "https://localhost/"; }}'
    )
    assert parse(text).accounts["m"].device_auth_uri is not None
    # ...while a redirect account still gets upstream's error.
    redirect = 'auth_uri = "https://a"; token_uri = "https://t"; client_id = "c";'
    text = (
        f'https_listen = none;\naccount "r" {{ {redirect} redirect_uri = "https://localhost/"; }}'
    )
    assert "has an 'https' redirect but the HTTPS server is set to 'none'" in error_of(text)


def test_device_auth_uri_is_security_relevant_and_old_dumps_still_restore() -> None:
    assert "device_auth_uri" in SECURITY_FIELDS
    acct = parse(f'account "m" {{ {DEVICE} client_id = "c"; }}').accounts["m"]
    plain = parse(
        'account "p" { auth_uri = "https://a"; token_uri = "https://t"; client_id = "c"; }'
    )
    token = dump.DumpedToken("at", 1.0e9, 1.0e9 + 60, "rt")
    data = dump.encode([(acct, token), (plain.accounts["p"], token)])
    decoded = dump.decode(data)
    assert decoded["m"].security_fields == acct.security_fields()
    # A dump made before the option existed has no such key: it was unset there.
    fields = plain.accounts["p"].security_fields()
    del fields["device_auth_uri"]
    payload = {"version": dump.PAYLOAD_VERSION, "accounts": {"p": {**fields, "token": None}}}
    nonce = os.urandom(dump.NONCE_BYTES)
    old = nonce + ChaCha20Poly1305(dump._KEY).encrypt(nonce, json.dumps(payload).encode(), None)
    assert dump.decode(old)["p"].security_fields == plain.accounts["p"].security_fields()


GOOD: dict[str, Any] = {
    "device_code": "dc",
    "user_code": "WDJB-MJHT",
    "verification_uri": "https://example.com/device",
    "verification_uri_complete": "https://example.com/device?user_code=WDJB-MJHT",
    "expires_in": 1800,
    "interval": 5,
}


def test_parse_device_code() -> None:
    code = device.parse_device_code(GOOD)
    assert code == device.DeviceCode(
        "dc", "WDJB-MJHT", GOOD["verification_uri"], GOOD["verification_uri_complete"], 1800, 5
    )
    # Microsoft: no verification_uri_complete, a message; no interval: the default applies.
    ms = {k: v for k, v in GOOD.items() if k not in ("verification_uri_complete", "interval")}
    code = device.parse_device_code({**ms, "message": "To sign in, ..."})
    assert (code.verification_uri_complete, code.interval) == (None, None)
    # Google: verification_url.
    google = {k: v for k, v in ms.items() if k != "verification_uri"}
    google["verification_url"] = "https://www.google.com/device"
    assert device.parse_device_code(google).verification_uri == "https://www.google.com/device"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"device_code": ""}, "no valid 'device_code'"),
        ({"device_code": "x" * (oauth.MAX_TOKEN_CHARS + 1)}, "no valid 'device_code'"),
        ({"user_code": "A" * (device.USER_CODE_MAX + 1)}, "no valid 'user_code'"),
        ({"user_code": 1234}, "no valid 'user_code'"),
        ({"verification_uri": "https://exa mple.com/"}, "'verification_uri' is not an http"),
        ({"verification_uri": "https://"}, "'verification_uri' is not an http"),
        ({"expires_in": 0}, "no valid 'expires_in'"),
        ({"expires_in": True}, "no valid 'expires_in'"),
        ({"interval": -1}, "'interval' is not a number"),
        ({"interval": float("nan")}, "'interval' is not a number"),
        ({"error": "invalid_scope", "error_description": "mail"}, "invalid_scope: mail"),
    ],
)
def test_parse_device_code_refuses(change: dict[str, Any], words: str) -> None:
    with pytest.raises(oauth.OAuthError) as e:
        device.parse_device_code({**GOOD, **change})
    assert words in str(e.value)


def test_the_waiting_status_line() -> None:
    waiting = "Access token pending authentication: waiting for the code to be entered"
    assert status_line("m", "device", {}) == f"m: {waiting}"
    line = status_line("m", "device", {"last_notification": 1_700_000_000, "code_expiry": 1})
    assert line.startswith(f"m: {waiting} (last notification ") and line.endswith(")")
