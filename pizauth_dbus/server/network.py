"""Whether the machine is online, from the first network monitor that answers.

In order: the desktop portal's NetworkMonitor on the session bus (what a sandboxed server can
see), NetworkManager (``State``, ``Connectivity``, ``StateChanged``) and systemd-networkd
(``OperationalState``) on the system bus. Only a definite "no network" counts as offline:
unknown, local-only, site-only, limited and captive-portal states count as online, because
many networks block the monitors' connectivity checks and a refresh may still get through.
With no monitor at all the machine always counts as online (the behaviour before monitors
were read). The duties ask :meth:`NetworkWatch.offline` and listen to
:attr:`NetworkWatch.changed`; nothing here holds up a token request by itself.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from pizauth_dbus.server import systembus
from pizauth_dbus.server.signals import Signal
from pizauth_dbus.server.state import Active, DeviceWaiting, Entry, Pending, now, to_wall
from pizauth_dbus.server.tasks import LoopDuty

log = logging.getLogger(__name__)

PORTAL = ("org.freedesktop.portal.Desktop", "/org/freedesktop/portal/desktop")
PORTAL_MONITOR = "org.freedesktop.portal.NetworkMonitor"
NM = ("org.freedesktop.NetworkManager", "/org/freedesktop/NetworkManager")
NM_IFACE = "org.freedesktop.NetworkManager"
NETWORKD = ("org.freedesktop.network1", "/org/freedesktop/network1")
NETWORKD_IFACE = "org.freedesktop.network1.Manager"

NM_OFFLINE_STATES = frozenset({10, 20, 30, 40})
"""NetworkManager's asleep, disconnected, disconnecting and connecting (0 is unknown; 50
local, 60 site and 70 global count as online)."""
NM_CONNECTIVITY_NONE = 1
NETWORKD_OFFLINE = frozenset({"off", "no-carrier", "dormant", "carrier"})
"""systemd-networkd's operational states with no address to send from."""


def nm_online(state: int | None, connectivity: int | None) -> bool:
    """Whether NetworkManager's ``State`` and ``Connectivity`` leave any hope of a network."""
    if state in NM_OFFLINE_STATES:
        return False
    return not (state in (None, 0) and connectivity == NM_CONNECTIVITY_NONE)


def _rule(sender: str, path: str, interface: str, member: str) -> str:
    return (
        f"type='signal',sender='{sender}',path='{path}',interface='{interface}',member='{member}'"
    )


class NetworkWatch(LoopDuty):
    """The network's state as the first monitor that answers tells it.

    :param session_bus: the server's bus connection (the portal lives there).
    :param system_bus: NetworkManager and systemd-networkd live there.
    """

    duty_name = "network watch"

    def __init__(self, session_bus: MessageBus, system_bus: systembus.SystemBus) -> None:
        self._session_bus = session_bus
        self._system_bus = system_bus
        super().__init__()
        self._online_event = asyncio.Event()
        self._online_event.set()
        self._nm: dict[str, Any] = {}
        self.source: str | None = None
        """``portal``, ``NetworkManager``, ``networkd``, or None when no monitor answered."""
        self.offline_since: float | None = None
        """When (boot clock) the monitor last said the network went away, while it is gone."""
        self.changed: Signal[bool] = Signal("network changes")
        """Emitted as ``(online,)`` when the network goes away or comes back."""

    def offline(self) -> bool:
        return self.offline_since is not None

    async def wait_online(self) -> None:
        """Return at once when online, else when the network comes back."""
        await self._online_event.wait()

    async def _run(self) -> None:
        if await self._portal():
            self.source = "portal"
        else:
            bus = await self._system_bus.get()
            if bus is not None and await self._networkmanager(bus):
                self.source = "NetworkManager"
            elif bus is not None and await self._networkd(bus):
                self.source = "networkd"
        log.info("Network monitor: %s", self.source or "none (always counted online)")

    def _set(self, online: bool) -> None:
        if online == (not self.offline()):
            return
        if online:
            log.info("The network is back (%s)", self.source)
            self.offline_since = None
            self._online_event.set()
        else:
            log.info("The network is gone (%s): refreshes wait for it", self.source)
            self.offline_since = now()
            self._online_event.clear()
        self.changed.emit(online)

    # -- the desktop portal -------------------------------------------------------------------

    async def _portal(self) -> bool:
        bus = self._session_bus
        if await self._portal_available() is None:
            return False
        bus.add_message_handler(self._on_portal)
        await systembus.listen(bus, _rule(PORTAL[0], PORTAL[1], PORTAL_MONITOR, "changed"))
        self.source = "portal"
        await self._portal_check()
        return True

    async def _portal_available(self) -> bool | None:
        reply = await systembus.call(self._session_bus, *PORTAL, PORTAL_MONITOR, "GetAvailable")
        return bool(reply[0]) if reply else None

    async def _portal_check(self) -> None:
        available = await self._portal_available()
        if available is not None:
            self._set(available)

    def _on_portal(self, msg: Message) -> None:
        if (
            msg.message_type is MessageType.SIGNAL
            and msg.interface == PORTAL_MONITOR
            and msg.member == "changed"
        ):
            # Older portals send the availability along; newer ones send nothing: ask.
            self._tasks.spawn(self._portal_check(), name="portal network check")

    # -- NetworkManager -------------------------------------------------------------------------

    async def _networkmanager(self, bus: MessageBus) -> bool:
        if not await systembus.has_owner(bus, NM[0]):
            return False
        bus.add_message_handler(self._on_nm)
        await systembus.listen(bus, _rule(NM[0], NM[1], NM_IFACE, "StateChanged"))
        await systembus.listen(bus, _rule(NM[0], NM[1], systembus.PROPERTIES, "PropertiesChanged"))
        self.source = "NetworkManager"
        for prop in ("State", "Connectivity"):
            value = await systembus.get_property(bus, *NM, NM_IFACE, prop)
            if value is not None:
                self._nm.setdefault(prop, value)
        self._set(nm_online(self._nm.get("State"), self._nm.get("Connectivity")))
        return True

    def _on_nm(self, msg: Message) -> None:
        if msg.message_type is not MessageType.SIGNAL or msg.path != NM[1]:
            return
        if msg.interface == NM_IFACE and msg.member == "StateChanged" and msg.signature == "u":
            self._nm["State"] = msg.body[0]
        elif (
            msg.interface == systembus.PROPERTIES
            and msg.member == "PropertiesChanged"
            and msg.body
            and msg.body[0] == NM_IFACE
        ):
            for prop in ("State", "Connectivity"):
                if prop in msg.body[1]:
                    self._nm[prop] = msg.body[1][prop].value
        else:
            return
        self._set(nm_online(self._nm.get("State"), self._nm.get("Connectivity")))

    # -- systemd-networkd -----------------------------------------------------------------------

    async def _networkd(self, bus: MessageBus) -> bool:
        if not await systembus.has_owner(bus, NETWORKD[0]):
            return False
        bus.add_message_handler(self._on_networkd)
        await systembus.listen(
            bus, _rule(NETWORKD[0], NETWORKD[1], systembus.PROPERTIES, "PropertiesChanged")
        )
        self.source = "networkd"
        state = await systembus.get_property(bus, *NETWORKD, NETWORKD_IFACE, "OperationalState")
        if isinstance(state, str):
            self._set(state not in NETWORKD_OFFLINE)
        return True

    def _on_networkd(self, msg: Message) -> None:
        if (
            msg.message_type is MessageType.SIGNAL
            and msg.path == NETWORKD[1]
            and msg.interface == systembus.PROPERTIES
            and msg.member == "PropertiesChanged"
            and msg.body
            and msg.body[0] == NETWORKD_IFACE
            and "OperationalState" in msg.body[1]
        ):
            self._set(msg.body[1]["OperationalState"].value not in NETWORKD_OFFLINE)


def waiting_times(entry: Entry | None, offline_since: float | None) -> dict[str, int]:
    """``{"network_wait": <Unix time>}`` for ``status``, when the account waits for the
    network: offline, and its token expired or its refresh failed, or a sign-in (whose
    reminders and polling are held). Nothing for any other account, whose line stays
    upstream's."""
    if offline_since is None or entry is None:
        return {}
    tok = entry.token
    waiting = isinstance(tok, Pending | DeviceWaiting) or (
        isinstance(tok, Active) and (tok.last_refresh_attempt is not None or tok.expiry <= now())
    )
    return {"network_wait": int(to_wall(offline_since))} if waiting else {}
