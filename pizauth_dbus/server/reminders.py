"""The reminders: say when an account needs authorising, and say it again until it is.

A Pending account (or one waiting for its device code to be entered) is announced as soon as
it appears, then again every ``auth_notify_interval`` while it stays so. Each announcement
is published as :attr:`Reminders.auth_needed` (the D-Bus ``AuthNeeded`` signal and the
desktop notifications listen) and runs ``auth_notify_cmd`` (one at a time, 10 s each). This is
upstream's "notifier". For a device code, :attr:`Reminders.device_auth_needed` (the
``DeviceAuthNeeded`` signal) follows, and the hook also gets ``$PIZAUTH_USER_CODE`` and
``$PIZAUTH_VERIFICATION_URI``.

While the network monitor says offline, reminders are held (the page they point to cannot
load); after a resume or the network's return, :meth:`Reminders.renotify` announces every
waiting account again at once, which also redraws a desktop prompt the sleep may have lost.
With nothing waiting, or nothing due, the loop sleeps until the next reminder and no longer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from pizauth_dbus.server.hooks import run_logged
from pizauth_dbus.server.signals import Signal
from pizauth_dbus.server.state import DeviceWaiting, Pending, Store, now
from pizauth_dbus.server.tasks import LoopDuty, wait_woken
from pizauth_dbus.timing import NOTIFY_TIMEOUT

log = logging.getLogger(__name__)


class Reminders(LoopDuty):
    """The background task that announces Pending accounts.

    :param held: whether reminders wait (the network monitor says offline).
    """

    duty_name = "reminders"

    def __init__(self, store: Store, held: Callable[[], bool] = lambda: False) -> None:
        self._store = store
        self._held = held
        self._wake = asyncio.Event()
        super().__init__()
        self.auth_needed: Signal[str, str] = Signal("authorisation reminders")
        """Emitted as ``(account, url)`` for every announcement."""
        self.device_auth_needed: Signal[str, str, str, str] = Signal("device code reminders")
        """Then, for a device code, as ``(account, verification_uri, user_code,
        verification_uri_complete or "")``."""

    def wake(self) -> None:
        """Look again at once (an account became Pending, the config changed, ...)."""
        self._wake.set()

    def renotify(self) -> None:
        """Announce every waiting account again now (after a resume, or the network's return)."""
        for name, entry in self._store:
            if isinstance(entry.token, Pending | DeviceWaiting):
                self._store.annotate(
                    name, entry.version, replace(entry.token, last_notification=None)
                )
        self.wake()

    def _due(self) -> tuple[list[tuple[str, Pending | DeviceWaiting]], float | None]:
        """Mark due accounts as announced now; return them and when the next one falls due
        (None when no account is waiting: only a new request can change that, and it wakes us)."""
        if self._held():
            return [], None  # the network's return wakes us
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
            next_at = at if next_at is None else min(next_at, at)
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
