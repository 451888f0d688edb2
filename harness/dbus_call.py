"""Blocking D-Bus method calls, as the harness and the tests make them: one place that builds
the call, bounds the wait and reads an error reply's name.

Through jeepney's blocking client (no subprocess, no event loop), and the harness's own: what
checks the server must not rest on the client code under test (``pizauth_dbus.cli.client``).
A call never starts a service by activation unless asked to: asking whether something runs
must not start it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jeepney import DBusAddress, HeaderFields, MessageFlag, MessageType, new_method_call
from jeepney.io.blocking import DBusConnection, open_dbus_connection

CALL_TIMEOUT = 10.0
"""Seconds one call may wait for its reply: every service here answers in milliseconds."""

BUS_DAEMON = DBusAddress(
    "/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus"
)
"""The bus daemon's own interface."""
MANAGER = DBusAddress("/org/pizauth", bus_name="org.pizauth", interface="org.pizauth.Manager")
"""The pizauth server's interface."""


class CallError(RuntimeError):
    """An error reply to a call that had to succeed."""

    def __init__(self, method: str, error: str, body: tuple[Any, ...]) -> None:
        super().__init__(f"{method} failed: {error} {body}")
        self.error = error
        self.body = body


@dataclass(frozen=True)
class Reply:
    """What a call was answered with."""

    method: str
    error: str
    """The error's D-Bus name, "" for a method return."""
    body: tuple[Any, ...]

    @property
    def ok(self) -> bool:
        return not self.error

    def result(self) -> tuple[Any, ...]:
        """The body of a method return.

        :raises CallError: for an error reply, with its name.
        """
        if self.error:
            raise CallError(self.method, self.error, self.body)
        return self.body


def call(
    bus: DBusConnection | str,
    address: DBusAddress,
    method: str,
    signature: str = "",
    body: tuple[Any, ...] = (),
    *,
    timeout: float = CALL_TIMEOUT,
    activate: bool = False,
) -> Reply:
    """Call ``method`` at ``address`` and wait (bounded) for the reply, error or not
    (``call(...).result()`` for a call that must succeed).

    :param bus: a connection, or a bus address to open a connection of its own to.
    :param activate: let the bus start the destination by activation if it is not running.
    :raises TimeoutError: when no reply comes within ``timeout`` seconds.
    """
    if isinstance(bus, str):
        with open_dbus_connection(bus=bus) as conn:
            return call(conn, address, method, signature, body, timeout=timeout, activate=activate)
    msg = new_method_call(address, method, signature, body)
    if not activate:
        msg.header.flags |= MessageFlag.no_auto_start
    reply = bus.send_and_get_reply(msg, timeout=timeout)
    error = ""
    if reply.header.message_type == MessageType.error:
        error = str(reply.header.fields.get(HeaderFields.error_name, ""))
    return Reply(method, error, tuple(reply.body))
