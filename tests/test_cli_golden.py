"""Every CLI command's stdout, stderr and exit code against a real server, as upstream's."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

from harness.dbus_daemon import PrivateBus
from harness.fakeoauth import FakeOAuth, Reply
from harness.flows import authorise_account, pending_url
from harness.oidc import OidcProvider
from harness.procs import wait_until
from harness.server import ServerFactory, run_cli
from harness.texts import HEAD, PENDING
from pizauth_dbus import __version__
from pizauth_dbus.cli.output import rfc2822, status_line
from pizauth_dbus.config.loader import parse
from pizauth_dbus.server import dump as dumpmod

TIME = r"[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}"


def out(r: object) -> tuple[int, str, str]:
    rc, o, e = r.returncode, r.stdout, r.stderr  # type: ignore[attr-defined]
    return rc, o.decode(), e.decode()


def test_show_refresh_revoke_status(oidc: OidcProvider, servers: ServerFactory) -> None:
    server = servers(HEAD + oidc.account_config("b acct") + oidc.account_config("a"))
    assert out(server.cli("status")) == (
        0,
        "a: No access token\nb acct: No access token\n",
        "",
    )
    assert out(server.cli("show", "-u", "a")) == (1, "", PENDING + "\n")
    url = pending_url(server, "a")
    # refresh of a pending account makes a new URL; -u hides it.
    rc, o, e = out(server.cli("refresh", "a"))
    assert (rc, o) == (1, "") and e.startswith(PENDING) and e[len(PENDING) : -1] != url
    assert out(server.cli("refresh", "-u", "a")) == (1, "", PENDING + "\n")
    assert wait_until(lambda: "last notification" in server.cli("status").stdout.decode(), 10)
    rc, o, e = out(server.cli("status"))
    assert rc == 0 and e == ""
    assert re.fullmatch(
        rf"a: Access token pending authentication \(last notification {TIME}\)\n"
        r"b acct: No access token\n",
        o,
    ), o
    token, _ = authorise_account(server, "b acct")
    rc, o, e = out(server.cli("status"))
    assert re.search(rf"^b acct: Active access token \(obtained {TIME}; expires {TIME}\)$", o, re.M)
    assert out(server.cli("refresh", "b acct")) == (0, "", "")
    assert out(server.cli("revoke", "b acct")) == (0, "", "")
    assert "b acct: No access token" in server.cli("status").stdout.decode()
    assert out(server.cli("revoke", "zz")) == (1, "", "ERROR - No account 'zz'\n")
    assert out(server.cli("refresh", "zz")) == (1, "", "ERROR - No account 'zz'\n")
    assert out(server.cli("show", "-u", "zz")) == (1, "", "ERROR - No account 'zz'\n")
    assert oidc.introspect(token)["active"] is True  # revoke is local only


def test_expired_status_and_show(fake_oauth: FakeOAuth, servers: ServerFactory) -> None:
    text = HEAD + (
        f'account "x" {{ auth_uri = "{fake_oauth.auth_uri}"; '
        f'token_uri = "{fake_oauth.token_uri}"; client_id = "c"; }}\n'
    )
    server = servers(text)
    acct = parse(text).accounts["x"]
    fake_oauth.script.append(Reply(status=200, json={}, hold=threading.Event()))  # never answered
    old = dumpmod.encode([(acct, dumpmod.DumpedToken("t", time.time() - 60, time.time() - 5, "r"))])
    assert server.cli("restore", input=old).returncode == 0
    rc, o, e = out(server.cli("show", "x"))
    assert (rc, o) == (1, "") and e.startswith("ERROR - Access token has expired. Refreshing ")
    rc, o, _ = out(server.cli("status"))
    assert re.fullmatch(rf"x: Access token expired \(last refresh attempt {TIME}\)\n", o), o


def test_status_lines_for_every_state() -> None:
    t = 1_700_000_000
    assert status_line("a", "empty", {}) == "a: No access token"
    assert status_line("a", "pending", {}) == "a: Access token pending authentication"
    assert status_line("a", "pending", {"last_notification": t}) == (
        f"a: Access token pending authentication (last notification {rfc2822(t)})"
    )
    assert status_line("a", "active", {"obtained": t, "expiry": t + 60}) == (
        f"a: Active access token (obtained {rfc2822(t)}; expires {rfc2822(t + 60)})"
    )
    assert status_line("a", "expired", {"obtained": t}) == (
        "a: Access token expired (refresh not yet attempted)"
    )
    assert status_line("a", "expired", {"last_refresh_attempt": t}) == (
        f"a: Access token expired (last refresh attempt {rfc2822(t)})"
    )
    assert re.fullmatch(TIME, rfc2822(t))
    assert rfc2822(None) == "<unknown time>"


def test_reload_and_its_errors(oidc: OidcProvider, servers: ServerFactory) -> None:
    server = servers(HEAD + oidc.account_config("a"))
    assert out(server.cli("reload")) == (0, "", "")
    server.write_config(HEAD)
    rc, o, e = out(server.cli("reload"))
    assert (
        (rc, o) == (1, "") and e.startswith("ERROR - ") and "Must specify at least one account" in e
    )
    assert "Traceback" not in e
    assert server.cli("status").stdout == b"a: No access token\n"


def test_info_text_and_json(
    oidc: OidcProvider, servers: ServerFactory, pizauth_env: dict[str, str]
) -> None:
    conf = Path(pizauth_env["XDG_CONFIG_HOME"]) / "pizauth.conf"
    cache = Path(pizauth_env["XDG_RUNTIME_DIR"]) / "pizauth"
    server = servers(HEAD.replace("https_listen = none;", "") + oidc.account_config("a"))
    rc, o, e = out(server.cli("info"))
    assert rc == 0 and e == ""
    assert re.fullmatch(
        rf"pizauth version {re.escape(__version__)}:\n"
        rf"  cache directory: {re.escape(str(cache))}\n"
        rf"  config file: {re.escape(str(conf))}\n"
        r"server running:\n  HTTP port: \d+\n  HTTPS port: \d+\n"
        r"  HTTPS public key: 04(:[0-9A-F]{2}){64}\n"
        r"  HTTPS certificate SHA-256: [0-9A-F]{2}(:[0-9A-F]{2}){31}\n",
        o,
    ), o
    rc, o, e = out(server.cli("info", "-j"))
    assert rc == 0 and o.endswith("\n") and o.count("\n") == 1
    info = json.loads(o)
    assert list(info) == sorted(info)
    assert info["info_format_version"] == 2 and info["server_running"] is True
    assert info["pizauth_version"] == __version__ and info["config_file"] == str(conf)
    assert info["executed_as"] == "pizauth"  # the program's file name, as upstream
    si = info["server_info"]
    assert si["http_port"].isdigit() and si["https_port"].isdigit()
    assert re.fullmatch(r"04(:[0-9A-F]{2}){64}", si["https_pub_key"])
    assert ", " not in o  # compact, as upstream


def test_info_without_server_and_without_config(
    pizauth_env: dict[str, str], session_bus: PrivateBus, tmp_path: Path
) -> None:
    conf = Path(pizauth_env["XDG_CONFIG_HOME"]) / "pizauth.conf"
    # Upstream's fatal() line: no "ERROR - " prefix.
    assert out(run_cli(pizauth_env, "info")) == (1, "", f"No config file found at {conf}\n")
    conf.write_text("")
    rc, o, _ = out(run_cli(pizauth_env, "info"))
    assert rc == 0 and o.endswith("\nserver not running\n")
    info = json.loads(run_cli(pizauth_env, "info", "-j").stdout)
    assert info["server_running"] is False and "server_info" not in info
    # -c names a config that need not exist.
    rc, o, _ = out(run_cli(pizauth_env, "info", "-c", str(tmp_path / "nope")))
    assert rc == 0 and f"config file: {tmp_path / 'nope'}\n" in o


def test_info_json_writes_utf_8_as_upstream(
    pizauth_env: dict[str, str], session_bus: PrivateBus, tmp_path: Path
) -> None:
    conf = tmp_path / "café" / "pizauth.conf"
    r = run_cli({**pizauth_env, "LC_ALL": "C"}, "info", "-j", "-c", str(conf))
    assert r.returncode == 0
    assert b'"config_file":"' + str(conf).encode() + b'"' in r.stdout
    assert b"\\u00e9" not in r.stdout
    assert json.loads(r.stdout)["config_file"] == str(conf)


def test_server_refusals(
    oidc: OidcProvider, servers: ServerFactory, pizauth_env: dict[str, str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.conf"
    r = run_cli(pizauth_env, "server", "-d", "-c", str(missing))
    # An explicit path is read as given; upstream words the failure as Rust prints it.
    assert out(r) == (1, "", f'Can\'t read "{missing}": No such file or directory (os error 2)\n')
    r = run_cli(pizauth_env, "server", "-d", "-c", str(tmp_path))
    assert out(r) == (1, "", f'Can\'t read "{tmp_path}": Is a directory (os error 21)\n')
    bad = tmp_path / "bad.conf"
    bad.write_text('account "a" {\n  auth_uri = "ftp://x/";\n}\n')
    rc, o, e = out(run_cli(pizauth_env, "server", "-d", "-c", str(bad)))
    assert (
        (rc, o) == (1, "")
        and e.startswith("Line 2, column")
        and "not a valid HTTP or HTTPS URI" in e
    )
    server = servers(HEAD + oidc.account_config("a"))
    rc, o, e = out(server.cli("server", "-d", "-c", str(server.config_path)))
    assert (rc, o, e) == (1, "", "pizauth authenticator already running\n")
    # Checked before the config is read, as upstream: a broken or missing one says the same.
    for path in (bad, missing):
        rc, o, e = out(server.cli("server", "-d", "-c", str(path)))
        assert (rc, o, e) == (1, "", "pizauth authenticator already running\n")
    assert server.owns_bus_name()
    assert out(server.cli("shutdown")) == (0, "", "")
    assert server.wait_exit() == 0
    assert out(server.cli("status")) == (
        1,
        "",
        "ERROR - pizauth authenticator not running or not responding\n",
    )
    assert out(server.cli("shutdown"))[0] == 1


def test_deprecated_login_hint_is_forwarded_and_warned_about(
    oidc: OidcProvider, servers: ServerFactory
) -> None:
    server = servers(HEAD + oidc.account_config("a", extra='login_hint = "al@example.com";'))
    assert "pizauth: Line 10: 'login_hint' is deprecated" in server.log()
    url = pending_url(server, "a")
    assert url.endswith("&prompt=consent&login_hint=al%40example.com"), url
    assert server.cli("reload").returncode == 0
