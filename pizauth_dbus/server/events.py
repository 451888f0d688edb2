"""Token events: ``token_event_cmd`` runs once per event, strictly one at a time, in order.

Events are also published at once as :attr:`Eventer.changed` (the D-Bus ``TokenChanged``
signal listens), which must not wait for a slow hook.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from enum import Enum

from pizauth_dbus.server.hooks import run_logged
from pizauth_dbus.server.signals import Signal
from pizauth_dbus.server.tasks import LoopDuty
from pizauth_dbus.timing import NOTIFY_TIMEOUT

log = logging.getLogger(__name__)


class TokenEvent(Enum):
    """The values of ``$PIZAUTH_EVENT`` (upstream's names)."""

    NEW = "token_new"
    REFRESHED = "token_refreshed"
    INVALIDATED = "token_invalidated"
    REVOKED = "token_revoked"


class Eventer(LoopDuty):
    """A FIFO of token events and the task that feeds them to ``token_event_cmd``."""

    duty_name = "eventer"

    def __init__(self, command: Callable[[], str | None]) -> None:
        # A callable so that a reload's new token_event_cmd applies to queued events too.
        self._command = command
        self._queue: asyncio.Queue[tuple[str, TokenEvent]] = asyncio.Queue()
        super().__init__()
        self.changed: Signal[str, TokenEvent] = Signal("token events")
        """Emitted as ``(account, event)`` for every event, as it is queued."""

    def put(self, account: str, event: TokenEvent) -> None:
        """Queue an event; events are dropped by the worker when ``token_event_cmd`` is unset."""
        log.info("Token event %s for %s", event.value, account)
        self.changed.emit(account, event)
        self._queue.put_nowait((account, event))

    async def idle(self) -> None:
        """Wait until every queued event has been handled (tests, orderly shutdown)."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            account, event = await self._queue.get()
            try:
                await run_logged(
                    "token_event_cmd",
                    self._command(),
                    {"PIZAUTH_ACCOUNT": account, "PIZAUTH_EVENT": event.value},
                    NOTIFY_TIMEOUT,
                )
            finally:
                self._queue.task_done()
