"""Services that cannot run in a container (logind, NetworkManager, the desktop portal), mocked
with python-dbusmock on private buses of the test's own: its templates for logind and
NetworkManager on a stand-in system bus, and a plain mock object for the portal's network
monitor (dbusmock has no portal template) on the test's session bus.

``python -m dbusmock --system --template logind`` owns ``org.freedesktop.login1`` on whatever
``DBUS_SYSTEM_BUS_ADDRESS`` names; the test drives it through the mock's own
``org.freedesktop.DBus.Mock`` interface (emit ``PrepareForSleep``, set NetworkManager's
state), over the harness's blocking calls (``harness.dbus_call``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Self

from jeepney import DBusAddress

from harness.dbus_call import call
from harness.dbus_daemon import name_has_owner
from harness.procs import popen_in_group, read_text, wait_until
from harness.service import GroupService

START_TIMEOUT = 15.0
"""Seconds for the mock to own its name (importing dbus-python takes a moment)."""
CALL_TIMEOUT = 5.0

MOCK_IFACE = "org.freedesktop.DBus.Mock"
TEMPLATES = {
    "logind": ("org.freedesktop.login1", "/org/freedesktop/login1"),
    "networkmanager": ("org.freedesktop.NetworkManager", "/org/freedesktop/NetworkManager"),
}
"""The templates used, with the name each owns and its main object."""
PORTAL = ("org.freedesktop.portal.Desktop", "/org/freedesktop/portal/desktop")
PORTAL_MONITOR = "org.freedesktop.portal.NetworkMonitor"

NM_DISCONNECTED = 20
NM_CONNECTED_GLOBAL = 70


class MockService(GroupService):
    """One dbusmock template on the bus at ``address`` (a private stand-in system bus)."""

    def __init__(self, template: str, address: str, log_dir: Path) -> None:
        self.template = template
        self.name, self.path = TEMPLATES.get(template, PORTAL)
        self.address = address
        self.log_path = log_dir / f"dbusmock-{template}.log"

    def start(self) -> Self:
        if self.template == "portal":
            # A bare mock object on the session bus; portal_network_monitor gives it methods.
            argv = ["--session", self.name, self.path, PORTAL_MONITOR]
            env = {"DBUS_SESSION_BUS_ADDRESS": self.address}
        else:
            argv = ["--system", "--template", self.template]
            env = {"DBUS_SYSTEM_BUS_ADDRESS": self.address}
        self._proc = popen_in_group(
            [sys.executable, "-m", "dbusmock", *argv],
            env={**env, "PATH": "/usr/bin:/bin"},
            log_path=self.log_path,
        )
        owned = wait_until(
            lambda: name_has_owner(self.address, self.name),
            START_TIMEOUT,
            abort=lambda: self._proc is None or self._proc.poll() is not None,
        )
        if not owned:
            self.stop()
            raise RuntimeError(f"dbusmock {self.template} did not start:\n{self.log()}")
        return self

    def mock_call(self, method: str, signature: str = "", body: tuple[Any, ...] = ()) -> Any:
        """Call ``method`` of the mock's control interface; its reply's body."""
        target = DBusAddress(self.path, bus_name=self.name, interface=MOCK_IFACE)
        return call(self.address, target, method, signature, body, timeout=CALL_TIMEOUT).result()

    def emit(self, interface: str, member: str, signature: str, args: list[Any]) -> None:
        """Emit a signal from the mock's main object: ``args`` as (signature, value) pairs."""
        self.mock_call("EmitSignal", "sssav", (interface, member, signature, args))

    def log(self) -> str:
        return read_text(self.log_path)


def prepare_for_sleep(logind: MockService, going_to_sleep: bool) -> None:
    """logind's ``PrepareForSleep(b)``: True before a suspend, False after the resume."""
    logind.emit("org.freedesktop.login1.Manager", "PrepareForSleep", "b", [("b", going_to_sleep)])


def set_nm_state(nm: MockService, state: int) -> None:
    """NetworkManager's ``State`` (20 disconnected ... 70 connected), with ``StateChanged``."""
    nm.mock_call("SetGlobalConnectionState", "u", (state,))


def portal_network_monitor(portal: MockService, available: bool) -> None:
    """Give the bare portal mock the network monitor's ``GetAvailable`` (answering
    ``available``) and a ``SetAvailable`` of the mock's own that changes it and emits the
    portal's ``changed`` signal, as a portal does when the network comes or goes."""
    portal.mock_call(
        "AddMethod",
        "sssss",
        (PORTAL_MONITOR, "GetAvailable", "", "b", "ret = getattr(self, 'pz_available', True)"),
    )
    portal.mock_call(
        "AddMethod",
        "sssss",
        (
            PORTAL_MONITOR,
            "SetAvailable",
            "b",
            "",
            f"self.pz_available = args[0]; self.EmitSignal('{PORTAL_MONITOR}', 'changed', '', [])",
        ),
    )
    set_portal_available(portal, available)


def set_portal_available(portal: MockService, available: bool) -> None:
    """The network comes (True) or goes (False), as the portal reports it."""
    target = DBusAddress(portal.path, bus_name=portal.name, interface=PORTAL_MONITOR)
    call(portal.address, target, "SetAvailable", "b", (available,), timeout=CALL_TIMEOUT).result()
