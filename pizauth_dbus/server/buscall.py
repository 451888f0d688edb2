"""The server's calls to the bus daemon and to other services on its own connection.

One way to call, so that every call is bounded by a timeout (a peer that owns a name but never
reads its socket must not stall a duty) and every failure reads the same way: a
:class:`BusCallError` with the D-Bus error name, or ``None`` for no answer at all. Callers turn
that into their own words (the keyring's, the notifications') at their boundary.
"""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from pizauth_dbus.timing import BUS_CALL_TIMEOUT


class Target(NamedTuple):
    """Whom a call goes to: a bus name, an object path on it, and an interface."""

    destination: str
    path: str
    interface: str


DAEMON = Target("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
"""The bus daemon itself."""
GONE = ("org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner")
"""Error names that mean: nobody owns the name being called."""


class BusCallError(Exception):
    """A call that failed: ``name`` is the D-Bus error name, ``None`` when nothing answered."""

    def __init__(self, name: str | None, text: str) -> None:
        super().__init__(text)
        self.name = name
        self.text = text

    @property
    def gone(self) -> bool:
        """The callee's name has no owner (and cannot be activated)."""
        return self.name in GONE


async def call(
    bus: MessageBus,
    target: Target,
    member: str,
    signature: str = "",
    body: Any = (),
    *,
    timeout: float = BUS_CALL_TIMEOUT,
) -> list[Any]:
    """Call ``member`` of ``target`` and return the reply's body.

    :raises BusCallError: for an error reply (its name and first string), no reply, or no reply
        within ``timeout`` seconds.
    """
    message = Message(
        destination=target.destination,
        path=target.path,
        interface=target.interface,
        member=member,
        signature=signature,
        body=list(body),
    )
    try:
        async with asyncio.timeout(timeout):
            reply = await bus.call(message)
    except TimeoutError:
        raise BusCallError(None, f"no answer within {timeout:g} s") from None
    if reply is None:
        raise BusCallError(None, "no answer")
    if reply.message_type == MessageType.ERROR:
        detail = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
        raise BusCallError(reply.error_name, detail or str(reply.error_name))
    return list(reply.body)


async def add_match(bus: MessageBus, rule: str, *, timeout: float = BUS_CALL_TIMEOUT) -> None:
    """Subscribe the connection to the signals ``rule`` matches.

    :raises BusCallError: if the bus refuses the rule or does not answer.
    """
    await call(bus, DAEMON, "AddMatch", "s", [rule], timeout=timeout)
