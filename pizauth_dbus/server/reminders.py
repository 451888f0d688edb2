"""The reminders: say when an account needs authorising, and say it again until it is.

A Pending account (or one waiting for its device code to be entered) is announced as soon as
it appears, then again every ``auth_notify_interval`` while it stays so. Each announcement
is published as :attr:`Reminders.auth_needed` (the D-Bus ``AuthNeeded`` signal and the
desktop notifications listen) and runs ``auth_notify_cmd`` (one at a time, 10 s each). This is
upstream's "notifier". For a device code, :attr:`Reminders.device_auth_needed` (the
``DeviceAuthNeeded`` signal) follows, and the hook also gets ``$PIZAUTH_USER_CODE`` and
``$PIZAUTH_VERIFICATION_URI``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from pizauth_dbus.server.hooks import run_logged
from pizauth_dbus.server.signals import Signal
from pizauth_dbus.server.state import DeviceWaiting, Pending, Store, now
from pizauth_dbus.server.tasks import Tasks, wait_woken
from pizauth_dbus.timing import MAX_WAIT, NOTIFY_TIMEOUT

log = logging.getLogger(__name__)


class Reminders:
    """The background task that announces Pending accounts."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._wake = asyncio.Event()
        self._tasks = Tasks()
        self.auth_needed: Signal[str, str] = Signal("authorisation reminders")
        """Emitted as ``(account, url)`` for every announcement."""
        self.device_auth_needed: Signal[str, str, str, str] = Signal("device code reminders")
        """Then, for a device code, as ``(account, verification_uri, user_code,
        verification_uri_complete or "")``."""

    def start(self) -> None:
        self._tasks.spawn(self._run(), name="reminders")

    async def stop(self) -> None:
        await self._tasks.stop()

    def wake(self) -> None:
        """Look again at once (an account became Pending, the config changed, ...)."""
        self._wake.set()

    def _due(self) -> tuple[list[tuple[str, Pending | DeviceWaiting]], float | None]:
        """Mark due accounts as announced now; return them and when the next one falls due
        (None when no account is waiting: only a new request can change that, and it wakes us)."""
        t = now()
        interval = self._store.config.auth_notify_interval
        next_at: float | None = None
        due: list[tuple[str, Pending | DeviceWaiting]] = []
        for name, entry in self._store:
            tok = entry.token
            if not isinstance(tok, Pending | DeviceWaiting):
                continue
            if tok.last_notification is None or tok.last_notification + interval <= t:
                self._store.annotate(name, entry.version, replace(tok, last_notification=t))
                due.append((name, tok))
                at = t + interval
            else:
                at = tok.last_notification + interval
            next_at = min(t + MAX_WAIT, at if next_at is None else min(next_at, at))
        return due, next_at

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            due, next_at = self._due()
            for name, tok in due:
                log.info("Authorisation needed for %s", name)
                env = {"PIZAUTH_ACCOUNT": name, "PIZAUTH_URL": tok.url}
                self.auth_needed.emit(name, tok.url)
                if isinstance(tok, DeviceWaiting):
                    uri, code = tok.verification_uri, tok.user_code
                    self.device_auth_needed.emit(
                        name, uri, code, tok.verification_uri_complete or ""
                    )
                    env |= {"PIZAUTH_USER_CODE": code, "PIZAUTH_VERIFICATION_URI": uri}
                await run_logged(
                    "auth_notify_cmd", self._store.config.auth_notify_cmd, env, NOTIFY_TIMEOUT
                )
            await wait_woken(self._wake, None if next_at is None else max(0.0, next_at - now()))
