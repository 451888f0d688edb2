"""Sandboxed callers: the real ``pizauth`` CLI, gdbus and busctl run inside bubblewrap (what
Flatpak is built on) with the private bus bound in and a ``/.flatpak-info`` naming an app, are
refused with ``org.pizauth.Error.AccessDenied`` and change nothing, unless ``allowed_apps``
lists the app; the same commands outside the sandbox work as before.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.dbus_daemon import PrivateBus
from harness.flows import authorise_account
from harness.oidc import OidcProvider
from harness.sandbox import Sandbox
from harness.server import PizauthServer, ServerFactory
from harness.texts import HEAD

APP = "org.example.Mail"
ACCOUNTS = ("work", "other")
DENIED = (
    f"ERROR - Access denied: the Flatpak app {APP} runs in a sandbox; to let it ask pizauth "
    f'for tokens, add allowed_apps = ["{APP}"]; to pizauth.conf and run pizauth reload\n'
)
DUMP_DENIED = (
    f"ERROR - Access denied: the Flatpak app {APP} runs in a sandbox, and no sandboxed app "
    "may use {}\n"
)
GDBUS = ["gdbus", "call", "--session", "--dest", "org.pizauth", "--object-path", "/org/pizauth"]
BUSCTL = ["busctl", "--user", "call", "org.pizauth", "/org/pizauth", "org.pizauth.Manager"]


@dataclass
class Rig:
    server: PizauthServer
    sandbox: Sandbox
    token: str
    config: str

    def inside(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return self.sandbox.pizauth(self.server.env, *args, input=input)

    def tool(self, *argv: str) -> subprocess.CompletedProcess[bytes]:
        return self.sandbox.run(self.server.env, argv)

    def state(self) -> tuple[bytes, bytes]:
        """What must not change: ``status`` and the token ``show`` gives, from outside."""
        status = self.server.cli("status")
        show = self.server.cli("show", "work")
        assert status.returncode == 0 and show.returncode == 0, (status, show)
        return status.stdout, show.stdout


@pytest.fixture
def rig(
    oidc: OidcProvider, servers: ServerFactory, session_bus: PrivateBus, tmp_path: Path
) -> Iterator[Rig]:
    config = HEAD + "".join(oidc.account_config(name) for name in ACCOUNTS)
    server = servers(config)
    token, _ = authorise_account(server, "work")
    yield Rig(server, Sandbox(APP, session_bus.socket_dir, tmp_path), token, config)


def _refused(r: subprocess.CompletedProcess[bytes], expected: str = DENIED) -> None:
    assert (r.returncode, r.stdout, r.stderr.decode()) == (1, b"", expected)


def test_the_sandbox_is_one(rig: Rig) -> None:
    """What the tests below rely on: inside, the process sees the app's /.flatpak-info, its own
    pid namespace, and reaches the private bus."""
    r = rig.tool("sh", "-c", "cat /.flatpak-info; echo pid=$$")
    assert r.returncode == 0, r.stderr
    assert f"name={APP}\n" in r.stdout.decode() and "pid=2\n" in r.stdout.decode()
    get = "org.freedesktop.DBus.Properties.Get"
    version = rig.tool(*GDBUS, "--method", get, "org.pizauth.Manager", "Version")
    assert version.returncode == 0 and version.stdout.startswith(b"(<'"), version


def test_sandboxed_cli_is_refused_and_changes_nothing(rig: Rig) -> None:
    before = rig.state()
    dump = rig.server.cli("dump")
    assert dump.returncode == 0 and dump.stdout
    _refused(rig.inside("show", "work"))
    _refused(rig.inside("show", "other"))  # would start a sign-in
    _refused(rig.inside("show", "-w", "1", "other"))  # WaitForToken
    _refused(rig.inside("refresh", "work"))
    _refused(rig.inside("revoke", "work"))
    _refused(rig.inside("status"))
    _refused(rig.inside("dump"), DUMP_DENIED.format("Dump"))
    _refused(rig.inside("restore", input=dump.stdout), DUMP_DENIED.format("Restore"))
    assert rig.state() == before
    assert b"other: No access token" in before[0], before[0]
    # Outside the sandbox everything works as before.
    assert rig.server.cli("restore", input=dump.stdout).returncode == 0
    assert rig.server.cli("revoke", "work").returncode == 0
    assert b"work: No access token" in rig.server.cli("status").stdout


def test_direct_bus_calls_from_inside_are_refused(rig: Rig) -> None:
    before = rig.state()
    calls = [
        rig.tool(*GDBUS, "--method", "org.pizauth.Manager.Show", "work"),
        rig.tool(*GDBUS, "--method", "org.pizauth.Manager.WaitForToken", "other", "1"),
        rig.tool(*GDBUS, "--method", "org.pizauth.Manager.Revoke", "work"),
        rig.tool(*BUSCTL, "Dump"),
        rig.tool(*BUSCTL, "Refresh", "s", "work"),
        rig.tool(*BUSCTL, "Restore", "ay", "3", "1", "2", "3"),
    ]
    for r in calls:
        assert r.returncode != 0 and r.stdout == b"", r
        assert b"org.pizauth.Error.AccessDenied" in r.stderr or b"Access denied" in r.stderr, r
        assert rig.token.encode() not in r.stdout + r.stderr
    gdbus = calls[0].stderr.decode()
    assert "org.pizauth.Error.AccessDenied" in gdbus and "allowed_apps" in gdbus, gdbus
    # Properties stay readable: they hold no token.
    accounts = rig.tool(*BUSCTL[:2], "get-property", *BUSCTL[3:], "Accounts")
    assert accounts.stdout == b'as 2 "other" "work"\n', accounts
    assert rig.state() == before


def test_allowed_apps_lets_the_app_ask_and_reload_applies_it(rig: Rig) -> None:
    _refused(rig.inside("show", "work"))
    rig.server.write_config(f'allowed_apps = ["org.example.Other", "{APP}"];\n' + rig.config)
    assert rig.server.cli("reload").returncode == 0
    r = rig.inside("show", "work")
    assert (r.returncode, r.stdout, r.stderr) == (0, f"{rig.token}\n".encode(), b"")
    # Allowed or not, a sandboxed app never gets the dump.
    _refused(rig.inside("dump"), DUMP_DENIED.format("Dump"))
    gdbus = rig.tool(*GDBUS, "--method", "org.pizauth.Manager.Show", "work")
    assert gdbus.returncode == 0 and rig.token.encode() in gdbus.stdout, gdbus
    # Taken off the list again, the next call (on a new connection or not) is refused.
    rig.server.write_config(rig.config)
    assert rig.server.cli("reload").returncode == 0
    _refused(rig.inside("show", "work"))


VANISHING_CALLER = """
import os, sys
from jeepney import DBusAddress, new_method_call
from jeepney.io.blocking import open_dbus_connection
conn = open_dbus_connection(bus=sys.argv[1])
read, write = os.pipe()
if os.fork():
    os._exit(0)  # the process the bus names as the caller is gone
os.close(write)
os.read(read, 1)  # returns once the parent has exited (its end of the pipe is closed)
manager = DBusAddress("/org/pizauth", "org.pizauth", "org.pizauth.Manager")
reply = conn.send_and_get_reply(new_method_call(manager, "Show", "s", ("work",)), timeout=20)
print(reply.header.fields.get(4, ""), *reply.body, sep="\\n")
"""


def test_a_connection_left_by_its_process_is_refused(rig: Rig) -> None:
    """A sandboxed app could hand its connection to a child and exit, so that the pid the bus
    names is gone (or, later, another process's): such a caller cannot be checked, and is
    refused, outside a sandbox as well as inside."""
    address = rig.server.env["DBUS_SESSION_BUS_ADDRESS"]
    r = subprocess.run(
        [sys.executable, "-c", VANISHING_CALLER, address],
        env=rig.server.env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    error, message = r.stdout.decode().splitlines()
    assert error == "org.pizauth.Error.AccessDenied", r.stdout
    assert message.startswith("Access denied: the calling process could not be checked"), message
    assert rig.token not in r.stdout.decode()
