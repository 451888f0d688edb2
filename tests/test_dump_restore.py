"""dump and restore: tokens survive a server restart; bad input changes nothing."""

from __future__ import annotations

import json
import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from harness.flows import authorise_account, pending_url
from harness.oidc import OidcProvider
from harness.server import ServerFactory
from harness.texts import HEAD
from pizauth_dbus.config.model import SECURITY_FIELDS, Account
from pizauth_dbus.errors import RestoreError
from pizauth_dbus.server import dump as dumpmod


def _envelope(payload: object, key: bytes = dumpmod._KEY) -> bytes:
    plain = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    nonce = os.urandom(dumpmod.NONCE_BYTES)
    return nonce + ChaCha20Poly1305(key).encrypt(nonce, plain, None)


def _with_times(obtained: object, expiry: object) -> dict[str, object]:
    """A well-formed payload but for the token's two times."""
    fields: dict[str, object] = {k: None if k == "client_secret" else "x" for k in SECURITY_FIELDS}
    fields |= {"auth_uri_fields": [], "scopes": []}
    token = {"access_token": "a", "obtained": obtained, "expiry": expiry, "refresh_token": None}
    return {"version": 1, "accounts": {"acct": {**fields, "token": token}}}


def _with_token(access: object, refresh: object = None) -> dict[str, object]:
    """A well-formed payload but for the token's two strings."""
    payload = _with_times(1, 2)
    token = payload["accounts"]["acct"]["token"]  # type: ignore[index]
    token |= {"access_token": access, "refresh_token": refresh}
    return payload


_DEEP = "[" * 700 + "]" * 700


def test_dump_restart_restore_show_prints_the_same_token(
    oidc: OidcProvider, servers: ServerFactory
) -> None:
    config = HEAD + oidc.account_config("acct") + oidc.account_config("other")
    first = servers(config)
    token, _ = authorise_account(first, "acct")
    d = first.cli("dump")
    assert d.returncode == 0 and d.stderr == b""
    assert len(d.stdout) > dumpmod.NONCE_BYTES + 16
    assert token.encode() not in d.stdout  # obfuscated, not plain text
    first.stop()

    # A new server with "other"'s security-relevant config changed: only "acct" is restored.
    changed = (
        HEAD
        + oidc.account_config("acct")
        + oidc.account_config("other", scopes=("openid", "offline_access", "email"))
    )
    second = servers(changed)
    pending_url(second, "acct")
    r = second.cli("restore", input=d.stdout)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    shown = second.cli("show", "acct")
    assert (shown.returncode, shown.stdout) == (0, token.encode() + b"\n")
    assert oidc.introspect(token)["active"] is True
    assert second.cli("status").stdout.decode().splitlines()[1] == "other: No access token"


def test_restore_does_not_replace_an_active_token(
    oidc: OidcProvider, servers: ServerFactory
) -> None:
    server = servers(HEAD + oidc.account_config("acct"))
    old, _ = authorise_account(server, "acct")
    old_dump = server.cli("dump").stdout
    server.cli("revoke", "acct")
    new, _ = authorise_account(server, "acct")
    assert new != old
    assert server.cli("restore", input=old_dump).returncode == 0
    assert server.cli("show", "acct").stdout == new.encode() + b"\n"


BAD_DUMPS = {
    "empty": (b"", "Input too short"),
    "short": (b"12345678901", "Input too short"),
    "garbage": (os.urandom(200), "Restoring dump failed"),
    "wrong version": (_envelope({"version": 99, "accounts": {}}), "Unknown dump version"),
    "not a payload": (_envelope(["a list"]), "Invalid dump"),
    "bad account": (_envelope({"version": 1, "accounts": {"acct": {"token": 3}}}), "Invalid dump"),
    # Upstream's envelope under upstream's key: recognised, and refused with what it is.
    "upstream": (_envelope({"any": "payload"}, dumpmod.UPSTREAM_KEY), dumpmod.UPSTREAM_DUMP),
    # Crafted ones: JSON's 1e400 is infinity (an expiry never reached, never refreshed)...
    "huge time": (_envelope(json.dumps(_with_times(1, 2)).replace(": 2,", ": 1e400,")), "Invalid"),
    "infinite time": (_envelope(_with_times(1, float("inf"))), "Invalid dump: malformed time"),
    "NaN time": (_envelope(_with_times(float("nan"), 2)), "Invalid dump: malformed time nan"),
    "negative time": (_envelope(_with_times(-5, 2)), "Invalid dump: malformed time -5"),
    "text time": (_envelope(_with_times("1", 2)), "Invalid dump: malformed time"),
    # ...100,000 nested arrays make the JSON parser raise RecursionError...
    "deep": (_envelope("[" * 100_000 + "]" * 100_000), "Invalid dump: nested too deeply"),
    # ...as do account fields nested 700 lists deep, which the JSON parser still reads...
    "deep field": (
        _envelope(json.dumps(_with_times(1, 2)).replace('"scopes": []', f'"scopes": {_DEEP}')),
        "Invalid dump: malformed field nested too deeply",
    ),
    # ...an integer time of 400 digits made math.isfinite raise OverflowError...
    "long integer time": (
        _envelope(json.dumps(_with_times(1, 2)).replace(": 2,", f": {'9' * 400},")),
        "Invalid dump: malformed time (far too large)",
    ),
    # ...the tokens get the checks a provider's answer gets (they were restored and served)...
    "70 KiB token": (
        _envelope(_with_token("x" * (70 << 10))),
        "Invalid dump: the access_token is longer than 64 KiB, for account 'acct'",
    ),
    "3 MiB refresh token": (
        _envelope(_with_token("a", "x" * (3 << 20))),
        "Invalid dump: the refresh_token is longer than 64 KiB, for account 'acct'",
    ),
    "NUL in a token": (
        _envelope(_with_token("a\x00b")),
        "Invalid dump: the access_token contains a NUL character, for account 'acct'",
    ),
    "lone surrogate in a token": (
        _envelope(_with_token("a", "\ud800")),
        "Invalid dump: the refresh_token is not valid Unicode, for account 'acct'",
    ),
    "number token": (_envelope(_with_token(5)), "Invalid dump: the access_token is not a string"),
    # ...a version of true is not version 1 (Python's True == 1)...
    "version true": (_envelope({**_with_times(1, 2), "version": True}), "Unknown dump version"),
    # ...and a 5 MiB input is refused before anything is decrypted.
    "too large": (os.urandom(5 << 20), "Dump too large: a dump is at most 4 MiB"),
}


def _good_dump() -> bytes:
    account = Account("acct", "http://a/", "http://t/", "c")
    return dumpmod.encode([(account, dumpmod.DumpedToken("at", 1.0, 2.0, "rt"))])


@pytest.mark.parametrize("case", [*BAD_DUMPS, "tampered", "truncated"])
def test_bad_restore_input_is_refused_with_a_clear_message(case: str) -> None:
    good = _good_dump()
    assert dumpmod.decode(good)["acct"].token == dumpmod.DumpedToken("at", 1.0, 2.0, "rt")
    if case == "tampered":
        data, message = good[:-1] + bytes([good[-1] ^ 1]), "Restoring dump failed"
    elif case == "truncated":
        data, message = good[: len(good) // 2], "Restoring dump failed"
    else:
        data, message = BAD_DUMPS[case]
    with pytest.raises(RestoreError) as e:
        dumpmod.decode(data)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_bad_restore_input_changes_nothing_in_a_running_server(
    oidc: OidcProvider, servers: ServerFactory
) -> None:
    """The server's side of the unit test above, for one case: the error reaches the CLI as
    one line, and no account's state moves."""
    server = servers(HEAD + oidc.account_config("acct") + oidc.account_config("other"))
    token, _ = authorise_account(server, "acct")
    url = pending_url(server, "other")
    good = server.cli("dump").stdout
    data = good[:-1] + bytes([good[-1] ^ 1])
    before = server.cli("status").stdout
    r = server.cli("restore", input=data)
    assert (r.returncode, r.stdout, r.stderr) == (1, b"", b"ERROR - Restoring dump failed\n")
    assert server.cli("status").stdout == before
    assert server.cli("show", "acct").stdout == token.encode() + b"\n"
    assert pending_url(server, "other") == url
