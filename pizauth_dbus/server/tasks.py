"""Task bookkeeping for the server's background duties, in one small helper.

The refresher, the reminders, the token-event worker, the authorisation flow and the desktop
notifications each run tasks on the server's loop; each keeps them in a :class:`Tasks`, so that
stopping the server cancels every one of them (hooks they run are killed through their own
cancellation handling) and waits until they are gone. Their periodic sleeps use
:func:`wait_woken`, which always lets a cancellation through.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


class Tasks:
    """The running tasks of one duty."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        """Run ``coro`` as a task on the running loop; it is forgotten when it ends."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    async def stop(self) -> None:
        """Cancel every task and wait until all have ended."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class LoopDuty:
    """A duty whose work is one loop, :meth:`_run`, from :meth:`start` until :meth:`stop`.

    The refresher, the reminders, the token-event worker and the laptop watchers are each one
    such loop; what else a duty spawns into ``_tasks`` stops with it.
    """

    duty_name = "duty"
    """The loop task's name, for asyncio's debug output and tracebacks."""

    def __init__(self) -> None:
        self._tasks = Tasks()

    def start(self) -> None:
        self._tasks.spawn(self._run(), name=self.duty_name)

    async def stop(self) -> None:
        await self._tasks.stop()

    async def _run(self) -> None:
        raise NotImplementedError


async def wait_woken(event: asyncio.Event, timeout: float | None) -> None:
    """Wait until ``event`` is set or ``timeout`` seconds have passed, whichever comes first
    (only for ``event`` when ``timeout`` is None).

    ``asyncio.timeout`` rather than ``asyncio.wait_for``: on Python 3.11, ``wait_for`` can
    swallow a cancellation that arrives just as the event is set, and the duty then never
    stops (a server that hangs at shutdown).
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
