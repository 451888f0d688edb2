"""dump and restore: tokens survive a server restart; bad input changes nothing."""

from __future__ import annotations

import json
import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from pizauth_dbus import dump as dumpmod
from tests.conftest import ServerFactory
from tests.flows import authorise_account, pending_url
from tests.support.oidc import OidcProvider

HEAD = 'http_listen = "127.0.0.1:0";\nhttps_listen = none;\nrefresh_before_expiry = 10s;\n'


def _envelope(payload: object, key: bytes = dumpmod._KEY) -> bytes:
    nonce = os.urandom(dumpmod.NONCE_BYTES)
    plain = json.dumps(payload).encode()
    return nonce + ChaCha20Poly1305(key).encrypt(nonce, plain, None)


def test_dump_restart_restore_show_prints_the_same_token(
    oidc: OidcProvider, pizauth_server: ServerFactory
) -> None:
    config = HEAD + oidc.account_config("acct") + oidc.account_config("other")
    first = pizauth_server(config)
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
    second = pizauth_server(changed)
    pending_url(second, "acct")
    r = second.cli("restore", input=d.stdout)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    shown = second.cli("show", "acct")
    assert (shown.returncode, shown.stdout) == (0, token.encode() + b"\n")
    assert oidc.introspect(token)["active"] is True
    assert second.cli("status").stdout.decode().splitlines()[1] == "other: No access token"


def test_restore_does_not_replace_an_active_token(
    oidc: OidcProvider, pizauth_server: ServerFactory
) -> None:
    server = pizauth_server(HEAD + oidc.account_config("acct"))
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
}


@pytest.mark.parametrize("case", [*BAD_DUMPS, "tampered", "truncated"])
def test_bad_restore_input_is_reported_and_changes_nothing(
    oidc: OidcProvider, pizauth_server: ServerFactory, case: str
) -> None:
    server = pizauth_server(HEAD + oidc.account_config("acct") + oidc.account_config("other"))
    token, _ = authorise_account(server, "acct")
    url = pending_url(server, "other")
    good = server.cli("dump").stdout
    if case == "tampered":
        data, message = good[:-1] + bytes([good[-1] ^ 1]), "Restoring dump failed"
    elif case == "truncated":
        data, message = good[: len(good) // 2], "Restoring dump failed"
    else:
        data, message = BAD_DUMPS[case]
    before = server.cli("status").stdout
    r = server.cli("restore", input=data)
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr.decode().startswith(f"ERROR - {message}"), r.stderr
    assert r.stderr.count(b"\n") == 1 and b"Traceback" not in r.stderr
    assert server.cli("status").stdout == before
    assert server.cli("show", "acct").stdout == token.encode() + b"\n"
    assert pending_url(server, "other") == url
