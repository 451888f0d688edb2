"""The D-Bus interface from the outside: busctl, gdbus and signals, as a script would use it.

The shell examples in man/pizauth.1 are run here exactly as printed there.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness.fakeoauth import FakeOAuth, Reply
from harness.flows import authorise_account, pending_url
from harness.monitor import PizauthMonitor
from harness.oidc import OidcProvider
from harness.procs import wait_until
from harness.server import PizauthServer, ServerFactory
from harness.texts import HEAD, man_examples
from pizauth_dbus.config.loader import parse
from pizauth_dbus.server import dump as dumpmod

DEST = ["--dest", "org.pizauth", "--object-path", "/org/pizauth"]
BUSCTL = ["busctl", "--user"]


def run(
    server: PizauthServer, argv: list[str], timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=server.env, capture_output=True, text=True, timeout=timeout, check=False
    )


def sh(server: PizauthServer, line: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", "-c", line],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def test_man_page_examples_work_as_printed(oidc: OidcProvider, servers: ServerFactory) -> None:
    examples = [e for e in man_examples() if " monitor " not in e]
    methods = [
        re.search(r"(Show|Refresh|Status|Info|Accounts|Reload|Revoke|introspect)", e)
        for e in examples
    ]
    assert len(examples) >= 9 and all(methods), examples
    server = servers(HEAD + oidc.account_config("work"))
    token, _ = authorise_account(server, "work")
    for line in examples:
        r = sh(server, line)
        method = re.search(r"(Show|Refresh|Status|Info|Accounts|Reload|Revoke|introspect)", line)
        assert method is not None
        if method.group(1) == "Show" and "Revoke" not in line:
            assert r.returncode == 0, (line, r.stderr)
            assert token in r.stdout, (line, r.stdout)
            continue
        assert r.returncode == 0, (line, r.stderr)
        out = r.stdout
        match method.group(1):
            case "Refresh" | "Revoke":
                assert out == ""
            case "Reload":
                assert out.strip() == "()"
            case "Status":
                assert re.search(r"\('work', '(active|expired)', \{.*'obtained': int64 \d+", out), (
                    out
                )
            case "Info":
                assert re.fullmatch(r'a\{ss\} 2 "http_port" "\d+" "https_port" "none"\n', out), out
            case "Accounts":
                assert out == 'as 1 "work"\n'
            case "introspect":
                for member in (
                    "Show",
                    "Refresh",
                    "Revoke",
                    "Reload",
                    "Dump",
                    "Restore",
                    "Status",
                    "Info",
                    "Shutdown",
                    "TokenChanged",
                    "AuthNeeded",
                    "Accounts",
                ):
                    assert member in out, member
    # The last example revoked the token.
    pending_url(server, "work")


def test_every_method_over_busctl_and_gdbus(oidc: OidcProvider, servers: ServerFactory) -> None:
    server = servers(HEAD + oidc.account_config("a") + oidc.account_config("b"))
    token, _ = authorise_account(server, "a")
    gd = ["gdbus", "call", "--session", *DEST, "--method"]
    bc = [*BUSCTL, "call", "org.pizauth", "/org/pizauth", "org.pizauth.Manager"]
    assert run(server, [*gd, "org.pizauth.Manager.Show", "a"]).stdout == f"('{token}',)\n"
    assert run(server, [*bc, "Show", "s", "a"]).stdout == f's "{token}"\n'
    assert run(server, [*gd, "org.pizauth.Manager.Refresh", "a"]).stdout == "()\n"
    assert run(server, [*bc, "Refresh", "s", "a"]).returncode == 0
    info = run(server, [*gd, "org.pizauth.Manager.Info"]).stdout
    assert re.fullmatch(r"\(\{'http_port': '\d+', 'https_port': 'none'\},\)\n", info), info
    status = run(server, [*bc, "Status"]).stdout
    assert status.startswith('a(ssa{sx}) 2 "a" "active" 2 "obtained" ') or status.startswith(
        'a(ssa{sx}) 2 "a" "active" 2 "expiry" '
    ), status
    assert '"b" "empty" 0' in status
    dumped = run(server, [*bc, "Dump"]).stdout.split()
    assert dumped[0] == "ay" and int(dumped[1]) == len(dumped) - 2 > 28
    # Feed the dump back through both tools: accepted, nothing changes for an Active account.
    assert run(server, [*bc, "Restore", "ay", *dumped[1:]]).returncode == 0
    gvariant = "[byte " + ", ".join(f"0x{int(b):02x}" for b in dumped[2:]) + "]"
    assert run(server, [*gd, "org.pizauth.Manager.Restore", gvariant]).stdout == "()\n"
    assert run(server, [*gd, "org.pizauth.Manager.Reload"]).stdout == "()\n"
    assert run(server, [*bc, "Reload"]).returncode == 0
    # The refreshes above replaced the token; Show hands out the newest one.
    assert wait_until(lambda: server.cli("show", "a").stdout != f"{token}\n".encode(), 15)
    newest = server.cli("show", "a").stdout.decode().strip()
    assert oidc.introspect(newest)["active"] is True
    assert run(server, [*gd, "org.pizauth.Manager.Show", "a"]).stdout == f"('{newest}',)\n"
    assert run(server, [*bc, "Revoke", "s", "a"]).returncode == 0
    assert run(server, [*gd, "org.pizauth.Manager.Revoke", "b"]).stdout == "()\n"
    prop = run(
        server,
        [*BUSCTL, "get-property", "org.pizauth", "/org/pizauth", "org.pizauth.Manager", "Accounts"],
    ).stdout
    assert prop == 'as 2 "a" "b"\n'
    assert run(server, [*bc, "Shutdown"]).returncode == 0
    assert server.wait_exit() == 0
    assert run(server, [*BUSCTL, "--auto-start=no", "status", "org.pizauth"]).returncode != 0


def _error(server: PizauthServer, argv: list[str]) -> str:
    r = run(server, argv)
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr
    return r.stderr


def test_named_errors(fake_oauth: FakeOAuth, servers: ServerFactory, tmp_path: Path) -> None:
    acct = (
        f'account "slow" {{ auth_uri = "{fake_oauth.auth_uri}";'
        f' token_uri = "{fake_oauth.token_uri}"; client_id = "c"; }}\n'
    )
    config = HEAD + acct
    server = servers(config)
    gd = ["gdbus", "call", "--session", *DEST, "--method"]
    bc = [*BUSCTL, "call", "org.pizauth", "/org/pizauth", "org.pizauth.Manager"]
    assert "org.pizauth.Error.UnknownAccount: No account 'nope'" in _error(
        server, [*gd, "org.pizauth.Manager.Show", "nope"]
    )
    assert "No account 'nope'" in _error(server, [*bc, "Revoke", "s", "nope"])
    url = pending_url(server, "slow")
    err = _error(server, [*gd, "org.pizauth.Manager.Show", "slow"])
    assert (
        "org.pizauth.Error.AuthorisationPending: "
        f"Access token unavailable until authorised with URL {url}" in err
    )
    assert "Input too short" in _error(server, [*bc, "Restore", "ay", "3", "1", "2", "3"])
    assert "org.pizauth.Error.Restore" in _error(
        server, [*gd, "org.pizauth.Manager.Restore", "[byte 0x01]"]
    )

    # An expired token whose refresh hangs: TokenExpired, then "in progress".
    account = parse(config).accounts["slow"]
    expired = dumpmod.encode(
        [(account, dumpmod.DumpedToken("old", time.time() - 100, time.time() - 10, "rt"))]
    )
    fake_oauth.script.append(Reply(hold=threading.Event()))  # never answered
    assert server.cli("restore", input=expired).returncode == 0
    first = _error(server, [*gd, "org.pizauth.Manager.Show", "slow"])
    # The restore already woke the refresher, so the refresh may have started before Show.
    assert "org.pizauth.Error.TokenExpired: Access token has expired. Refreshing " in first
    second = _error(server, [*gd, "org.pizauth.Manager.Show", "slow"])
    assert "Refreshing is in progress but has not yet succeeded" in second

    server.write_config("account {")
    err = _error(server, [*gd, "org.pizauth.Manager.Reload"])
    assert "org.pizauth.Error.Config: " in err and "Line 1" in err


def test_signals_and_property_changes(oidc: OidcProvider, servers: ServerFactory) -> None:
    server = servers(HEAD + oidc.account_config("acct"))
    mon = PizauthMonitor(server)
    try:
        # gdbus monitor subscribes asynchronously; wait until it prints its first line.
        mon.wait_for(r"owned by|org\.pizauth", timeout=10)
        url = pending_url(server, "acct")
        line = mon.wait_for(r"org\.pizauth\.Manager\.AuthNeeded")
        assert f"('acct', '{url}')" in line
        authorise_account(server, "acct")
        assert "('acct', 'token_new')" in mon.wait_for(r"TokenChanged")
        server.cli("revoke", "acct")
        assert "('acct', 'token_revoked')" in mon.wait_for(r"TokenChanged")
        server.write_config(HEAD + oidc.account_config("acct") + oidc.account_config("new"))
        assert server.cli("reload").returncode == 0
        line = mon.wait_for(r"PropertiesChanged")
        assert "'Accounts': <['acct', 'new']>" in line
    finally:
        mon.stop()


@pytest.mark.parametrize("tool", ["busctl", "gdbus"])
def test_introspection_is_complete(oidc: OidcProvider, servers: ServerFactory, tool: str) -> None:
    server = servers(HEAD + oidc.account_config("acct"))
    if tool == "busctl":
        out = run(
            server, [*BUSCTL, "introspect", "org.pizauth", "/org/pizauth", "org.pizauth.Manager"]
        ).stdout
        expected = {
            ".Show": "s",
            ".Refresh": "s",
            ".Revoke": "s",
            ".Reload": "-",
            ".Dump": "-",
            ".Restore": "ay",
            ".Status": "-",
            ".Info": "-",
            ".Shutdown": "-",
        }
        for name, sig in expected.items():
            assert re.search(rf"^{re.escape(name)}\s+method\s+{re.escape(sig)}\s", out, re.M), name
        assert re.search(r"^\.Accounts\s+property\s+as\s", out, re.M)
        assert re.search(r"^\.TokenChanged\s+signal\s+ss\s", out, re.M)
        assert re.search(r"^\.AuthNeeded\s+signal\s+ss\s", out, re.M)
    else:
        out = run(server, ["gdbus", "introspect", "--session", *DEST]).stdout
        assert "Status(out a(ssa{sx})" in out
        assert "Dump(out ay" in out and "Restore(in  ay dump)" in out
        assert "readonly as Accounts" in out
