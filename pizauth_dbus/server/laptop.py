"""Laptop life: the resume and network watchers together, as the rest of the server sees them.

One lazily connected system bus (:mod:`.systembus`) serves both watchers; :attr:`Laptop.woke`
is emitted when the machine resumed (:mod:`.resume`) or the network came back
(:mod:`.network`), which is when the refresher and the reminders look at every account again;
:meth:`Laptop.info` is the ``Network`` property (the monitors in use, the network's state and
the proxy this server's requests go through).
"""

from __future__ import annotations

from collections.abc import Callable

from dbus_fast.aio import MessageBus

from pizauth_dbus.proxyenv import describe
from pizauth_dbus.server.network import NetworkWatch
from pizauth_dbus.server.resume import ResumeWatch
from pizauth_dbus.server.signals import Signal
from pizauth_dbus.server.state import to_wall
from pizauth_dbus.server.systembus import SystemBus


class Laptop:
    """The watchers of one server; started once the server owns its name (never delaying it).

    :param session_bus: the server's own connection (the portal's network monitor is there).
    :param watching: whether any account has a token or waits for a sign-in, the only ones a
        resume matters to (the clock-jump detector looks only then).
    """

    def __init__(self, session_bus: MessageBus, watching: Callable[[], bool]) -> None:
        self._system_bus = SystemBus()
        self.network = NetworkWatch(session_bus, self._system_bus)
        self.resume = ResumeWatch(self._system_bus, needed=watching)
        self.woke: Signal[str] = Signal("resumes and reconnections")
        """Emitted as ``(why,)``: ``resume`` or ``network``."""
        self.resume.resumed.connect(lambda source: self.woke.emit("resume"))
        self.network.changed.connect(self._network_changed)

    def _network_changed(self, online: bool) -> None:
        if online:
            self.woke.emit("network")

    def start(self) -> None:
        self.network.start()
        self.resume.start()

    async def stop(self) -> None:
        await self.resume.stop()
        await self.network.stop()
        self._system_bus.close()

    def info(self) -> dict[str, str]:
        """What the doctor and scripts may want to know, as strings (credentials removed)."""
        since = self.network.offline_since
        out = {
            "state": "offline" if since is not None else "online",
            "monitor": self.network.source or "none",
            "resume": " ".join(self.resume.sources) or "clock",
            **describe(),
        }
        if since is not None:
            out["offline_since"] = str(int(to_wall(since)))
        return out
