"""The notifier: tells the person when an account needs authorising, and reminds them.

A Pending account is announced as soon as it appears, then again every
``auth_notify_interval`` while it stays Pending. Each announcement runs ``auth_notify_cmd``
(sequentially, 10 s each) and reaches every subscribed sink (the D-Bus ``AuthNeeded`` signal,
desktop notifications).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace

from pizauth_dbus.hooks import NOTIFY_TIMEOUT, run_logged
from pizauth_dbus.refresher import MAX_WAIT
from pizauth_dbus.state import Pending, Store, now

log = logging.getLogger(__name__)

AuthSink = Callable[[str, str], None]
"""Called as ``sink(account, url)`` for every announcement."""


class Notifier:
    """The background task that announces Pending accounts."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sinks: list[AuthSink] = []

    def subscribe(self, sink: AuthSink) -> None:
        self._sinks.append(sink)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="notifier")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def wake(self) -> None:
        self._wake.set()

    def _due(self) -> tuple[list[tuple[str, str]], float]:
        """Mark due accounts as notified now; return them and when the next one falls due."""
        t = now()
        interval = self._store.config.auth_notify_interval
        next_at = t + MAX_WAIT
        due: list[tuple[str, str]] = []
        for name, entry in self._store:
            tok = entry.token
            if not isinstance(tok, Pending):
                continue
            if tok.last_notification is None or tok.last_notification + interval <= t:
                self._store.tweak(name, entry.version, replace(tok, last_notification=t))
                due.append((name, tok.url))
                next_at = min(next_at, t + interval)
            else:
                next_at = min(next_at, tok.last_notification + interval)
        return due, next_at

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            due, next_at = self._due()
            for name, url in due:
                log.info("Authorisation needed for %s", name)
                for sink in self._sinks:
                    try:
                        sink(name, url)
                    except Exception:  # a sink's failure must not silence the others
                        log.exception("notification sink failed")
                await run_logged(
                    "auth_notify_cmd",
                    self._store.config.auth_notify_cmd,
                    {"PIZAUTH_ACCOUNT": name, "PIZAUTH_URL": url},
                    NOTIFY_TIMEOUT,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_at - now()))
