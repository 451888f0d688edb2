"""Blocking D-Bus method calls through jeepney, for the short-lived programs (``pizauth``'s
client commands and ``pizauth-dbus doctor``).

One way to build a call, bound it by a timeout, choose whether it may start a service by
activation, and read an error reply: a :class:`BusError` with the D-Bus error name, or ``None``
when nothing answered. Light on purpose: ``pizauth show`` runs this on every mail check, so jeepney
is imported inside the functions and nothing here pulls in asyncio, dbus-fast, aiohttp,
pyparsing or cryptography.
"""

from __future__ import annotations

from typing import Any

DAEMON = "org.freedesktop.DBus"
DAEMON_PATH = "/org/freedesktop/DBus"


class BusError(Exception):
    """A call that failed: ``name`` is the D-Bus error name, ``None`` when nothing answered
    (a timeout, a dropped connection)."""

    def __init__(self, name: str | None, text: str) -> None:
        super().__init__(text)
        self.name = name
        self.text = text


def connect(address: str) -> Any:
    """A blocking connection to the bus at ``address``.

    :raises Exception: whatever jeepney raises for a bus that refuses or cannot be reached.
    """
    from jeepney.io.blocking import open_dbus_connection

    return open_dbus_connection(bus=address)


def call(
    conn: Any,
    destination: str,
    path: str,
    interface: str,
    method: str,
    signature: str | None = None,
    *args: Any,
    timeout: float,
    auto_start: bool = False,
) -> tuple[Any, ...]:
    """Call ``method`` and return the reply's body.

    :param auto_start: whether the bus may start ``destination`` by activation for this call.
    :raises BusError: for an error reply (its name and first string), or no reply within
        ``timeout`` seconds.
    """
    from jeepney import DBusAddress, MessageFlag, MessageType, new_method_call
    from jeepney.low_level import HeaderFields

    msg = new_method_call(DBusAddress(path, destination, interface), method, signature, args)
    if not auto_start:
        msg.header.flags |= MessageFlag.no_auto_start
    try:
        reply = conn.send_and_get_reply(msg, timeout=timeout)
    except Exception:  # a timeout, or the connection dropped: either way, no answer
        raise BusError(None, f"no answer within {timeout:g} s") from None
    if reply.header.message_type == MessageType.error:
        name = str(reply.header.fields.get(HeaderFields.error_name, ""))
        text = str(reply.body[0]) if reply.body and isinstance(reply.body[0], str) else name
        raise BusError(name, text)
    return tuple(reply.body)


def call_daemon(
    conn: Any, method: str, signature: str | None = None, *args: Any, timeout: float
) -> tuple[Any, ...]:
    """Call ``method`` of the bus daemon itself (``org.freedesktop.DBus``), never activating."""
    return call(conn, DAEMON, DAEMON_PATH, DAEMON, method, signature, *args, timeout=timeout)
