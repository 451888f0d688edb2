"""Noticing that the machine woke from suspend or hibernation.

Two independent sources. logind's ``PrepareForSleep(false)`` on the system bus, heard through
a match rule (no inhibitor lock: nothing needs doing before the machine sleeps), says so the
moment the machine is back. The clock-jump detector needs no bus: the boot clock keeps
counting through a suspend and the monotonic clock does not, so the gap between them grows by
the time asleep. It looks every :data:`~pizauth_dbus.timing.MAX_WAIT` seconds where logind is
missing, and, since systemd may skip the signal after hibernation, every
:data:`~pizauth_dbus.timing.RESUME_BACKSTOP` seconds where it is there. Both are debounced
(elogind sends the signal twice, and the detector may see the jump after the signal), and
every resume is published once as :attr:`ResumeWatch.resumed`.

The detector looks only while some account has a token or waits for a sign-in
(:meth:`ResumeWatch.wake`): a resume matters to nothing else, so a server with no such account
never wakes, as before laptops were looked after.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from dbus_fast import Message, MessageType

from pizauth_dbus.server import systembus
from pizauth_dbus.server.signals import Signal
from pizauth_dbus.server.state import now
from pizauth_dbus.server.tasks import LoopDuty, wait_woken
from pizauth_dbus.timing import CLOCK_JUMP, MAX_WAIT, RESUME_BACKSTOP, RESUME_DEBOUNCE

log = logging.getLogger(__name__)

LOGIN1 = "org.freedesktop.login1"
LOGIN1_PATH = "/org/freedesktop/login1"
LOGIN1_MANAGER = "org.freedesktop.login1.Manager"
_RULE = (
    f"type='signal',sender='{LOGIN1}',path='{LOGIN1_PATH}',"
    f"interface='{LOGIN1_MANAGER}',member='PrepareForSleep'"
)


def clock_gap() -> float:
    """Seconds the boot clock is ahead of the monotonic clock: grows by each sleep's length."""
    return time.clock_gettime(time.CLOCK_BOOTTIME) - time.monotonic()


class JumpDetector:
    """Remembers the clocks' gap; :meth:`slept` says whether it grew since the last look."""

    def __init__(self, gap: Callable[[], float] = clock_gap) -> None:
        self._gap = gap
        self._last = gap()

    def slept(self) -> float:
        """Seconds asleep since the last look (0 when none worth the name); resets the mark."""
        gap = self._gap()
        grown, self._last = gap - self._last, gap
        return grown if grown > CLOCK_JUMP else 0.0


class ResumeWatch(LoopDuty):
    """Publishes each resume once, from whichever source notices it first.

    :param system_bus: where logind lives.
    :param clock: seconds on a clock that runs during suspend (for the debounce).
    """

    duty_name = "resume watch"

    def __init__(
        self,
        system_bus: systembus.SystemBus,
        clock: Callable[[], float] = now,
        needed: Callable[[], bool] = lambda: True,
    ) -> None:
        self._system_bus = system_bus
        self._clock = clock
        self._needed = needed
        self._wake = asyncio.Event()
        super().__init__()
        self._jumps = JumpDetector()
        self._last_resume: float | None = None
        self.sources: list[str] = []
        """What announces resumes: ``logind`` (when it answered) and ``clock`` (always)."""
        self.resumed: Signal[str] = Signal("resumes")
        """Emitted as ``(source,)`` once per resume."""

    async def _run(self) -> None:
        if await self._listen_to_logind():
            self.sources.append("logind")
        self.sources.append("clock")
        every = RESUME_BACKSTOP if "logind" in self.sources else MAX_WAIT
        while True:
            if not self._needed():
                # Nothing a resume would change: sleep until an account gets a token or waits
                # for a sign-in. A sleep meanwhile is of no interest, so the mark starts anew.
                self._wake.clear()
                await wait_woken(self._wake, None)
                self._jumps.slept()
                continue
            await asyncio.sleep(every)
            self.check_clock()

    def wake(self) -> None:
        """Some account may now need the detector (it got a token, or waits for a sign-in)."""
        self._wake.set()

    def check_clock(self) -> None:
        """Announce a resume if the clocks say the machine slept since the last look."""
        if slept := self._jumps.slept():
            self._announce("clock", f"the clock jumped {slept:.0f} s")

    async def _listen_to_logind(self) -> bool:
        bus = await self._system_bus.get()
        if bus is None or not await systembus.has_owner(bus, LOGIN1):
            return False
        bus.add_message_handler(self._on_message)
        if not await systembus.listen(bus, _RULE):
            bus.remove_message_handler(self._on_message)
            return False
        log.info("Hearing of resumes from logind")
        return True

    def _on_message(self, msg: Message) -> None:
        if (
            msg.message_type is MessageType.SIGNAL
            and msg.member == "PrepareForSleep"
            and msg.interface == LOGIN1_MANAGER
            and msg.signature == "b"
            and msg.body == [False]
        ):
            self._jumps.slept()  # the same sleep must not be announced again by the clocks
            self._announce("logind", "logind says so")

    def _announce(self, source: str, why: str) -> None:
        t = self._clock()
        if self._last_resume is not None and t - self._last_resume < RESUME_DEBOUNCE:
            return
        self._last_resume = t
        log.info("Resumed from suspend (%s): checking every account", why)
        self.resumed.emit(source)
