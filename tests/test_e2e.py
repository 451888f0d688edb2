"""The walking skeleton end to end: config -> server -> D-Bus -> CLI, with a real provider."""

from __future__ import annotations

import re

from harness import texts
from harness.dbus_call import call
from harness.dbus_daemon import PrivateBus
from harness.flows import authorise_account, gdbus, pending_url, url_query
from harness.oidc import OidcProvider
from harness.server import ServerFactory, run_cli

NOT_RUNNING = texts.NOT_RUNNING.encode()


def _config(oidc: OidcProvider, *accounts: str) -> str:
    head = texts.HEAD + "refresh_before_expiry = 10s;\n"
    return head + "".join(oidc.account_config(a) for a in accounts)


def test_first_token_through_the_whole_stack(oidc: OidcProvider, servers: ServerFactory) -> None:
    server = servers(_config(oidc, "work", "home"))
    url = pending_url(server, "work")
    q = url_query(url)
    assert url.startswith(oidc.auth_uri + "?access_type=offline&code_challenge=")
    assert q["code_challenge_method"] == ["S256"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", q["state"][0])
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", q["code_challenge"][0])
    assert q["client_id"] == ["pizauth-test"]
    assert q["scope"] == ["openid offline_access"]
    # A second show of a pending account repeats the same URL rather than starting over.
    assert pending_url(server, "work") == url

    token, _ = authorise_account(server, "work")
    assert oidc.introspect(token)["active"] is True
    # The other account is untouched by this one's login.
    assert pending_url(server, "home") != url


def test_show_over_gdbus_returns_the_same_token(
    oidc: OidcProvider, servers: ServerFactory, session_bus: PrivateBus
) -> None:
    server = servers(_config(oidc, "acct"))
    pending = gdbus(server.env, "Show", "acct")
    assert pending.returncode != 0
    assert "org.pizauth.Error.AuthorisationPending" in pending.stderr
    token, _ = authorise_account(server, "acct")
    r = gdbus(server.env, "Show", "acct")
    assert r.returncode == 0 and r.stdout.strip() == f"('{token}',)"


def test_unknown_account(oidc: OidcProvider, servers: ServerFactory) -> None:
    server = servers(_config(oidc, "acct"))
    r = server.cli("show", "x")
    assert (r.returncode, r.stdout, r.stderr) == (1, b"", b"ERROR - No account 'x'\n")


def test_no_server_on_the_bus(pizauth_env: dict[str, str], session_bus: PrivateBus) -> None:
    r = run_cli(pizauth_env, "show", "acct")
    assert (r.returncode, r.stdout, r.stderr) == (1, b"", NOT_RUNNING)


def test_no_bus_at_all(pizauth_env: dict[str, str], tmp_path: object) -> None:
    env = {**pizauth_env, "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/no-such-socket"}
    r = run_cli(env, "show", "acct")
    assert (r.returncode, r.stdout, r.stderr) == (1, b"", NOT_RUNNING)


def test_show_answers_the_same_with_or_without_the_interface_named(
    oidc: OidcProvider, servers: ServerFactory, session_bus: PrivateBus
) -> None:
    # A usable token is answered by the bus connection's fast path, the rest by the method;
    # callers must not be able to tell (D-Bus allows a call to leave the interface out).
    from jeepney import DBusAddress
    from jeepney.io.blocking import open_dbus_connection

    server = servers(_config(oidc, "acct"))
    token, _ = authorise_account(server, "acct")
    with open_dbus_connection(bus=session_bus.address) as conn:
        for interface in ("org.pizauth.Manager", None):
            addr = DBusAddress("/org/pizauth", "org.pizauth", interface)
            for account, expected in (("acct", (token,)), ("nope", None)):
                reply = call(conn, addr, "Show", "s", (account,))
                if expected is None:
                    assert not reply.ok
                    assert reply.body == ("No account 'nope'",)
                else:
                    assert reply.ok
                    assert reply.body == expected
