"""The CLI's side of the bus: blocking calls to ``org.pizauth.Manager`` through jeepney.

Kept light on purpose: ``pizauth show`` runs this on every mail check, so nothing here (or in
what it imports) may pull in asyncio, dbus-fast, aiohttp, pyparsing or cryptography.
"""

from __future__ import annotations

from typing import Any

from pizauth_dbus import BUS_NAME, INTERFACE, OBJECT_PATH
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
    from jeepney.io.blocking import open_dbus_connection

    address, _ = session_bus_address()
    if address is None:
        raise CallError(None, NOT_RUNNING)
    try:
        return open_dbus_connection(bus=address)
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
    from jeepney import DBusAddress, MessageFlag, MessageType, new_method_call

    addr = DBusAddress(OBJECT_PATH, bus_name=BUS_NAME, interface=INTERFACE)
    msg = new_method_call(addr, method, signature, args)
    if not auto_start:
        msg.header.flags |= MessageFlag.no_auto_start
    conn = _connect()
    try:
        reply = conn.send_and_get_reply(msg, timeout=CALL_TIMEOUT + wait)
    except Exception:  # timeout, connection dropped
        raise CallError(None, NOT_RUNNING) from None
    finally:
        conn.close()
    if reply.header.message_type == MessageType.error:
        name = str(reply.header.fields.get(_ERROR_NAME_FIELD, ""))
        text = str(reply.body[0]) if reply.body else name
        if name.startswith("org.freedesktop.DBus.Error.Spawn"):
            raise CallError(None, NOT_RUNNING, spawn_failed=True)
        if name in _NOT_RUNNING_ERRORS:
            raise CallError(None, NOT_RUNNING)
        raise CallError(name, text)
    return reply.body


def _error_name_field() -> Any:
    from jeepney.low_level import HeaderFields

    return HeaderFields.error_name


_ERROR_NAME_FIELD = _error_name_field()


def server_running() -> bool:
    """Whether some process owns the bus name now (no activation is attempted)."""
    from jeepney import DBusAddress, new_method_call

    dbus = DBusAddress(
        "/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus"
    )
    try:
        conn = _connect()
    except CallError:
        return False
    try:
        reply = conn.send_and_get_reply(
            new_method_call(dbus, "NameHasOwner", "s", (BUS_NAME,)), timeout=CALL_TIMEOUT
        )
    except Exception:
        return False
    finally:
        conn.close()
    return bool(reply.body and reply.body[0])
