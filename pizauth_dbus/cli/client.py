"""The CLI's side of the bus: blocking calls to ``org.pizauth.Manager`` through jeepney.

Kept light on purpose: ``pizauth show`` runs this on every mail check, so nothing here (or in
what it imports) may pull in asyncio, dbus-fast, aiohttp, pyparsing or cryptography.
"""

from __future__ import annotations

from typing import Any

from pizauth_dbus import BUS_NAME, INTERFACE, OBJECT_PATH, blocking_calls
from pizauth_dbus.blocking_calls import BusError
from pizauth_dbus.busaddr import session_bus_address

CALL_TIMEOUT = 30.0
"""Seconds to wait for a reply; generous because the first call may start the server."""
NOT_RUNNING = "pizauth authenticator not running or not responding"

# Replies that mean "no server, and none could be started", rather than an answer from one.
_NOT_RUNNING_ERRORS = (
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
    "org.freedesktop.DBus.Error.NoReply",
    "org.freedesktop.DBus.Error.Timeout",
    "org.freedesktop.DBus.Error.TimedOut",
    "org.freedesktop.DBus.Error.Disconnected",
)


class CallError(Exception):
    """The call failed; ``name`` is the D-Bus error name (or ``None`` for no server)."""

    def __init__(self, name: str | None, message: str, *, spawn_failed: bool = False) -> None:
        super().__init__(message)
        self.name = name
        self.spawn_failed = spawn_failed
        """No server ran, and the one D-Bus activation started exited before answering."""


def _connect() -> Any:
    """A blocking connection to the session bus, found as every D-Bus client finds it.

    :raises CallError: with upstream's "not running" text when there is no bus to reach.
    """
    address, _ = session_bus_address()
    if address is None:
        raise CallError(None, NOT_RUNNING)
    try:
        return blocking_calls.connect(address)
    except Exception:  # refused, unsupported transport, auth failure: all mean nobody to ask
        raise CallError(None, NOT_RUNNING) from None


def call(
    method: str,
    signature: str | None = None,
    *args: Any,
    auto_start: bool = True,
    wait: float = 0.0,
) -> Any:
    """Call a Manager method and return its reply body (a tuple).

    :param auto_start: whether the bus may start the server by activation for this call.
    :param wait: seconds the server may legitimately take over and above an ordinary call
        (``WaitForToken``'s own time limit).
    :raises CallError: with the server's error name and text, or with ``name=None`` and
        upstream's "not running" text when no server answers.
    """
    conn = _connect()
    try:
        return blocking_calls.call(
            conn,
            BUS_NAME,
            OBJECT_PATH,
            INTERFACE,
            method,
            signature,
            *args,
            timeout=CALL_TIMEOUT + wait,
            auto_start=auto_start,
        )
    except BusError as e:
        if e.name is None or e.name in _NOT_RUNNING_ERRORS:
            raise CallError(None, NOT_RUNNING) from None
        if e.name.startswith("org.freedesktop.DBus.Error.Spawn"):
            raise CallError(None, NOT_RUNNING, spawn_failed=True) from None
        raise CallError(e.name, e.text) from None
    finally:
        conn.close()


def server_running() -> bool:
    """Whether some process owns the bus name now (no activation is attempted)."""
    try:
        conn = _connect()
    except CallError:
        return False
    try:
        (owned,) = blocking_calls.call_daemon(
            conn, "NameHasOwner", "s", BUS_NAME, timeout=CALL_TIMEOUT
        )
    except BusError:
        return False
    finally:
        conn.close()
    return bool(owned)
