"""Setups that broke for people switching from upstream pizauth, each run as they run it.

A mail program started from cron or a systemd timer that has only ``XDG_RUNTIME_DIR``; a
redirect listener on port 80; ``dump > backup`` with no server running; a status listing whose
order scripts rely on; hook failures in the log. Each test compares with upstream's behaviour.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness import texts
from harness.dbus_daemon import PrivateBus
from harness.fakeoauth import FakeOAuth
from harness.flows import authorise_account, pending_url, url_query
from harness.lifecycle import in_log, login_with_fake, setting, show_token, wait_for
from harness.oidc import OidcProvider
from harness.procs import wait_until
from harness.server import PizauthServer, ServerFactory, run_cli
from harness.texts import HEAD
from harness.user import follow

NOT_RUNNING = texts.NOT_RUNNING.encode()
PENDING = texts.PENDING.encode()


# -- Finding the bus ---------------------------------------------------------------------------


def test_show_from_a_bare_environment_finds_the_user_bus(
    pizauth_env: dict[str, str], oidc: OidcProvider, tmp_path: Path
) -> None:
    """A cron job or ``env -i`` wrapper has no DBUS_SESSION_BUS_ADDRESS; the bus listens at
    ``$XDG_RUNTIME_DIR/bus`` as under a systemd user session. Server and CLI both find it."""
    with PrivateBus(pizauth_env, user_bus=True) as bus:
        env = {**pizauth_env, "XDG_RUNTIME_DIR": str(bus.runtime_dir)}
        assert "DBUS_SESSION_BUS_ADDRESS" not in env
        config = Path(env["XDG_CONFIG_HOME"]) / "pizauth.conf"
        # Well inside the provider's 60 s tokens, so the token stays the same while we look.
        config.write_text(HEAD + "refresh_before_expiry = 10s;\n" + oidc.account_config("acct"))
        server = PizauthServer(
            config, env, log_path=tmp_path / "server.log", bus_address=bus.address
        )
        with server.start():
            token, _ = authorise_account(server, "acct")
            bare = {k: env[k] for k in ("HOME", "PATH", "XDG_RUNTIME_DIR")}
            r = run_cli(bare, "show", "acct")
            assert (r.returncode, r.stdout, r.stderr) == (0, f"{token}\n".encode(), b"")
            # The same environment without the runtime directory has no bus to find.
            r = run_cli({k: env[k] for k in ("HOME", "PATH")}, "show", "acct")
            assert (r.returncode, r.stderr) == (1, NOT_RUNNING)


def test_a_bus_address_in_the_environment_wins(
    pizauth_env: dict[str, str], session_bus: PrivateBus, tmp_path: Path
) -> None:
    """An ``XDG_RUNTIME_DIR/bus`` that is not a socket, or that belongs to no one, is ignored:
    the variable decides, as with every other D-Bus client."""
    runtime = Path(pizauth_env["XDG_RUNTIME_DIR"])
    (runtime / "bus").write_text("not a socket")
    env = {k: pizauth_env[k] for k in ("HOME", "PATH", "XDG_RUNTIME_DIR")}
    r = run_cli(env, "status")
    assert (r.returncode, r.stderr) == (1, NOT_RUNNING)
    env["DBUS_SESSION_BUS_ADDRESS"] = session_bus.address
    r = run_cli(env, "status")  # reaches the bus: still no server, and none is started
    assert (r.returncode, r.stderr) == (1, NOT_RUNNING)


def test_session_bus_address_rules(tmp_path: Path) -> None:
    import socket

    from pizauth_dbus.busaddr import RUNTIME_BUS, session_bus_address

    var = "DBUS_SESSION_BUS_ADDRESS"
    assert session_bus_address({var: "unix:path=/x"}) == ("unix:path=/x", var)
    address, why = session_bus_address({var: "", "XDG_RUNTIME_DIR": str(tmp_path)})
    assert address is None and "does not exist" in why
    assert session_bus_address({})[0] is None
    (tmp_path / "bus").write_text("")
    address, why = session_bus_address({"XDG_RUNTIME_DIR": str(tmp_path)})
    assert address is None and "not a socket" in why
    (tmp_path / "bus").unlink()
    odd = tmp_path / "a b,c=d"
    odd.mkdir()
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(odd / "bus"))
        address, why = session_bus_address({"XDG_RUNTIME_DIR": str(odd)})
    # Escaped as the D-Bus specification asks, so that jeepney and dbus-fast read it back.
    assert why == RUNTIME_BUS
    assert address == f"unix:path={tmp_path}/a%20b%2cc%3dd/bus"


# -- Activation only where it helps -----------------------------------------------------------


def _activatable(session_bus: PrivateBus, config: Path) -> None:
    exe = Path(sys.executable).with_name("pizauth")
    session_bus.add_service("org.pizauth", [str(exe), "server", "-d", "-c", str(config)])
    assert wait_until(lambda: "org.pizauth" in session_bus.list_activatable_names(), 10)


@pytest.mark.parametrize(
    "args", [["dump"], ["status"], ["revoke", "acct"], ["reload"], ["shutdown"]]
)
def test_commands_that_never_start_a_server(
    pizauth_env: dict[str, str], session_bus: PrivateBus, oidc: OidcProvider, args: list[str]
) -> None:
    config = Path(pizauth_env["XDG_CONFIG_HOME"]) / "pizauth.conf"
    config.write_text(HEAD + oidc.account_config("acct"))
    _activatable(session_bus, config)
    r = run_cli(pizauth_env, *args)
    assert (r.returncode, r.stdout, r.stderr) == (1, b"", NOT_RUNNING)
    assert not session_bus.name_has_owner("org.pizauth")
    assert "Activating service name='org.pizauth'" not in session_bus.log()


def test_info_never_starts_a_server(
    pizauth_env: dict[str, str], session_bus: PrivateBus, oidc: OidcProvider
) -> None:
    """Upstream's ``info`` reports a missing server rather than failing: exit 0."""
    config = Path(pizauth_env["XDG_CONFIG_HOME"]) / "pizauth.conf"
    config.write_text(HEAD + oidc.account_config("acct"))
    _activatable(session_bus, config)
    r = run_cli(pizauth_env, "info")
    assert r.returncode == 0 and r.stdout.endswith(b"\nserver not running\n"), r
    assert not session_bus.name_has_owner("org.pizauth")
    assert "Activating service name='org.pizauth'" not in session_bus.log()


@pytest.mark.parametrize("command", ["show", "refresh", "restore"])
def test_show_refresh_and_restore_start_one(
    pizauth_env: dict[str, str], session_bus: PrivateBus, oidc: OidcProvider, command: str
) -> None:
    config = Path(pizauth_env["XDG_CONFIG_HOME"]) / "pizauth.conf"
    config.write_text(HEAD + oidc.account_config("acct"))
    _activatable(session_bus, config)
    args = [command] if command == "restore" else [command, "acct"]
    r = run_cli(pizauth_env, *args, input=b"" if command == "restore" else None)
    # The activated server answered: a URL to visit, or (restore) its verdict on no data.
    assert r.returncode == 1 and r.stderr != NOT_RUNNING, r
    if command != "restore":
        assert r.stderr.startswith(PENDING)
    assert session_bus.name_has_owner("org.pizauth")
    assert run_cli(pizauth_env, "shutdown").returncode == 0
    assert wait_until(lambda: not session_bus.name_has_owner("org.pizauth"), 10)


# -- Redirects on the scheme's default port ---------------------------------------------------


def test_a_listener_on_port_80_gets_a_redirect_uri_without_a_port(
    servers: ServerFactory, oidc: OidcProvider
) -> None:
    if not _can_bind(80):
        pytest.fail("port 80 cannot be bound: run the tests as root (CI does)")
    server = servers(
        'http_listen = "127.0.0.1:80";\nhttps_listen = none;\n' + oidc.account_config("acct")
    )
    url = pending_url(server, "acct")
    assert url_query(url)["redirect_uri"] == ["http://localhost/"]
    assert "redirect_uri=http%3A%2F%2Flocalhost%2F&" in url  # as upstream prints it
    # The browser comes back to http://localhost/?code=... with "Host: localhost".
    token, page = authorise_account(server, "acct")
    assert page.url.startswith("http://localhost/?")
    assert oidc.introspect(token)["active"] is True


def _can_bind(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# -- Texts as upstream prints them ------------------------------------------------------------


def test_status_lines_are_sorted_whole(servers: ServerFactory, fake_oauth: FakeOAuth) -> None:
    """Upstream sorts ``name: state`` lines, so "a b" (a space) comes before "a" (a colon)."""
    server = servers(HEAD + fake_oauth.account_config("a") + fake_oauth.account_config("a b"))
    r = server.cli("status")
    assert r.stdout.decode().splitlines() == ["a b: No access token", "a: No access token"]


def test_a_hook_killed_by_a_signal_has_no_exit_code(
    servers: ServerFactory, fake_oauth: FakeOAuth
) -> None:
    server = servers(HEAD + setting("token_event_cmd", "kill -9 $$") + fake_oauth.account_config())
    assert server.cli("revoke", "acct").returncode == 0
    wait_for(
        lambda: in_log(server, "ERROR - 'kill -9 $$' returned <Unknown exit code>"),
        "the hook's failure",
    )


def test_config_lists_and_maps_may_start_with_a_comma(
    servers: ServerFactory, fake_oauth: FakeOAuth
) -> None:
    extra = '    auth_uri_fields = {, "x": "1"};\n'
    block = fake_oauth.account_config(extra=extra).replace('scopes = ["mail"]', 'scopes = [, "a"]')
    server = servers(HEAD + block)
    query = url_query(pending_url(server, "acct"))
    assert (query["scope"], query["x"]) == (["a"], ["1"])


# -- The token endpoint's redirects -----------------------------------------------------------


@pytest.mark.parametrize("status", [307, 308])
def test_token_endpoint_redirects_that_keep_the_post(
    servers: ServerFactory, fake_oauth: FakeOAuth, status: int
) -> None:
    account = fake_oauth.account_config().replace(fake_oauth.token_uri, fake_oauth.hops(status, 10))
    server = servers(HEAD + account)
    assert login_with_fake(server) == "at-1"
    hops = [("POST", f"/hop/{status}/{n}") for n in range(10, 0, -1)]
    assert fake_oauth.methods_seen == [*hops, ("POST", "/token")]
    assert fake_oauth.token_fields()["grant_type"] == "authorization_code"  # the form came too


def test_a_see_other_redirect_turns_the_post_into_a_get(
    servers: ServerFactory, fake_oauth: FakeOAuth
) -> None:
    account = fake_oauth.account_config().replace(fake_oauth.token_uri, fake_oauth.hops(303, 1))
    server = servers(HEAD + account)
    follow(pending_url(server, "acct"))
    wait_for(lambda: in_log(server, "HTTP code 405"), "the failed exchange")
    assert fake_oauth.methods_seen == [("POST", "/hop/303/1"), ("GET", "/token")]
    assert show_token(server) is None


def test_more_than_ten_redirects_are_not_followed(
    servers: ServerFactory, fake_oauth: FakeOAuth
) -> None:
    account = fake_oauth.account_config().replace(fake_oauth.token_uri, fake_oauth.hops(307, 11))
    server = servers(HEAD + account, extra_env={"PIZAUTH_EXCHANGE_RETRY_GAP": "0"})
    follow(pending_url(server, "acct"))
    wait_for(lambda: in_log(server, "couldn't connect to"), "the exchange to give up")
    # Each of the ten tries stopped after ten redirects, none reached the token endpoint.
    assert ("POST", "/token") not in fake_oauth.methods_seen
    assert len(fake_oauth.methods_seen) == 10 * 11


# -- URIs the config accepts, as upstream's URL library reads them ----------------------------


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://999.1.1.1/", "invalid IPv4 address"),
        ("http://a%20b.com/", "invalid international domain name"),
        ("http://[fe80::1%25eth0]/", "invalid IPv6 address"),
    ],
)
def test_a_redirect_uri_upstream_rejects_is_refused_by_reload(
    servers: ServerFactory, fake_oauth: FakeOAuth, uri: str, reason: str
) -> None:
    """These URIs passed the config check but not the parser that builds the authorisation
    URL, so after the reload every ``show`` of the account failed with an internal error and
    a traceback in the log. Upstream rejects them when it reads the config."""
    good = HEAD + fake_oauth.account_config()
    server = servers(good)
    url = pending_url(server, "acct")
    bad = good.replace("    scopes", f'    redirect_uri = "{uri}";\n    scopes', 1)
    server.write_config(bad)
    r = server.cli("reload")
    line = f'    redirect_uri = "{uri}";'
    number, column = bad.splitlines().index(line) + 1, line.index('"') + 1
    assert r.returncode == 1 and r.stdout == b""
    err = r.stderr.decode().splitlines()
    assert err[:2] == [f"ERROR - Line {number}, column {column}:", f"  {line.strip()}"]
    assert err[-1] == f"Invalid URI: {reason}"
    # Nothing changed: the pending authorisation is still the one it was.
    assert pending_url(server, "acct") == url
    assert server.cli("refresh", "acct").stderr.decode().startswith(PENDING.decode())
    assert "Traceback" not in server.log() and "Internal error" not in server.log()
