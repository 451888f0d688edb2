"""The system bus, connected lazily, and the few questions asked of services there.

Only the resume and network watchers use it (logind, NetworkManager, systemd-networkd).
Containers, minimal machines and sandboxes often have no system bus, or one that refuses us:
that costs one debug line, never an error, and never delays the session bus's duties, because
the connection is made in the background after the server owns its name. The address is
``$DBUS_SYSTEM_BUS_ADDRESS`` when set (the tests point it at a private bus), else the
standard socket.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from dbus_fast import BusType
from dbus_fast.aio import MessageBus

from pizauth_dbus.server import buscall
from pizauth_dbus.server.buscall import BusCallError
from pizauth_dbus.timing import SYSTEM_BUS_TIMEOUT

log = logging.getLogger(__name__)

PROPERTIES = "org.freedesktop.DBus.Properties"


class SystemBus:
    """One connection to the system bus, made on the first :meth:`get`, shared by its users."""

    def __init__(self) -> None:
        self._bus: MessageBus | None = None
        self._tried: asyncio.Task[MessageBus | None] | None = None

    async def get(self) -> MessageBus | None:
        """The connection, or None when there is no usable system bus (said once, at debug)."""
        if self._tried is None:
            self._tried = asyncio.ensure_future(self._connect())
        return await asyncio.shield(self._tried)

    async def _connect(self) -> MessageBus | None:
        try:
            async with asyncio.timeout(SYSTEM_BUS_TIMEOUT):
                self._bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        except Exception as e:  # no socket, refused, a broken address: all mean "none"
            log.debug("No system bus (%s): no logind or network monitor from there", e or type(e))
            return None
        return self._bus

    def close(self) -> None:
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None


async def call(
    bus: MessageBus,
    destination: str,
    path: str,
    interface: str,
    member: str,
    signature: str = "",
    body: list[Any] | None = None,
) -> list[Any] | None:
    """One method call through :func:`~pizauth_dbus.server.buscall.call`, bounded by
    :data:`~pizauth_dbus.timing.SYSTEM_BUS_TIMEOUT`; its reply's body, or None for an error or
    no answer (a watcher then does without that source: never worth more than a debug line)."""
    target = buscall.Target(destination, path, interface)
    try:
        return await buscall.call(
            bus, target, member, signature, body or [], timeout=SYSTEM_BUS_TIMEOUT
        )
    except BusCallError as e:
        log.debug("%s.%s on %s: %s", interface, member, destination, e.name or e)
        return None


async def has_owner(bus: MessageBus, name: str) -> bool:
    """Whether ``name`` is owned on ``bus`` now (never activating it)."""
    reply = await call(bus, *buscall.DAEMON, "NameHasOwner", "s", [name])
    return bool(reply and reply[0])


async def get_property(bus: MessageBus, name: str, path: str, interface: str, prop: str) -> Any:
    """A property's value, or None when it cannot be read."""
    reply = await call(bus, name, path, PROPERTIES, "Get", "ss", [interface, prop])
    return reply[0].value if reply else None


async def listen(bus: MessageBus, rule: str) -> bool:
    """Add a match rule so that the bus sends us those signals; False when refused."""
    return await call(bus, *buscall.DAEMON, "AddMatch", "s", [rule]) is not None
