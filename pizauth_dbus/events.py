"""Token events: ``token_event_cmd`` runs once per event, strictly one at a time, in order.

Events are also handed at once to in-process listeners (the D-Bus ``TokenChanged`` signal), which
must not wait for a slow hook.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from enum import Enum

from pizauth_dbus.hooks import NOTIFY_TIMEOUT, run_logged

log = logging.getLogger(__name__)


class TokenEvent(Enum):
    """The values of ``$PIZAUTH_EVENT`` (upstream's names)."""

    NEW = "token_new"
    REFRESHED = "token_refreshed"
    INVALIDATED = "token_invalidated"
    REVOKED = "token_revoked"


class Eventer:
    """A FIFO of token events and the task that feeds them to ``token_event_cmd``."""

    def __init__(self, command: Callable[[], str | None]) -> None:
        # A callable so that a reload's new token_event_cmd applies to queued events too.
        self._command = command
        self._queue: asyncio.Queue[tuple[str, TokenEvent]] = asyncio.Queue()
        self._listeners: list[Callable[[str, TokenEvent], None]] = []
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, listener: Callable[[str, TokenEvent], None]) -> None:
        """Call ``listener(account, event)`` for every event as it is queued."""
        self._listeners.append(listener)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="eventer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def put(self, account: str, event: TokenEvent) -> None:
        """Queue an event; events are dropped by the worker when ``token_event_cmd`` is unset."""
        log.info("Token event %s for %s", event.value, account)
        for listener in self._listeners:
            try:
                listener(account, event)
            except Exception:  # a broken listener must not stop the token flow
                log.exception("token event listener failed")
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
