"""Native desktop notifications: which account needs authorising, one click to sign in.

This module decides what the server shows through the desktop's notification service
(``org.freedesktop.Notifications``), and when; :mod:`pizauth_dbus.server.desktop.backend` does the
talking, and is the only module that knows desktop-notifier's internals:

- a prompt per Pending account at every announcement of the
  :class:`~pizauth_dbus.server.reminders.Reminders` (so no more often than
  ``auth_notify_interval``),
  each reminder replacing the account's last prompt instead of stacking. Its "Authorise" button
  and its body click open the sign-in page in the browser. The service is asked to keep it until
  it is handled (no expiry, and ``resident`` so that a click does not remove it either), because
  this module withdraws it itself:
- by the service's own id, clicked or not, once the account stops waiting for that URL (a token
  arrived, a revoke, a reload that removed or changed the account, a new URL, the server stopping);
- an error notification when an authorisation fails: the provider's message once, and what to do
  next; nothing to click;
- prompts that a killed server left on screen are withdrawn by the next server on the same bus
  (:mod:`pizauth_dbus.server.desktop.record`), so one account never has two prompts that look live;
- without a notification service, or with one that misbehaves, the server stays quiet and well:
  one warning per failure, never a traceback, sends paused with a growing back-off, and no bus
  connection opened per attempt.

It runs beside ``auth_notify_cmd`` and ``error_notify_cmd`` (both fire when both are set) and is
switched off by the global option ``desktop_notifications = false;``. It must never disturb the
token flow: every failure here is logged and swallowed, and all desktop work runs in one worker
task, in order, so that a withdrawal can never overtake the notification it withdraws.
"""

from __future__ import annotations

import asyncio
import functools
import html
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError
from desktop_notifier import Button, Notification

from pizauth_dbus.errors import UnknownAccountError
from pizauth_dbus.paths import runtime_dir
from pizauth_dbus.server import buscall
from pizauth_dbus.server.buscall import BusCallError
from pizauth_dbus.server.desktop.backend import NOTIFICATIONS, Backend, Extras
from pizauth_dbus.server.desktop.browser import open_url
from pizauth_dbus.server.desktop.record import Record
from pizauth_dbus.server.desktop.text import (
    APP_NAME,
    AUTHORISE_ACTION,
    AUTHORISE_LABEL,
    ERROR_EXTRAS,
    ERROR_ICON,
    NO_EXPIRY,
    PROMPT_EXTRAS,
    PROMPT_ICON,
    error_text,
    prompt_text,
)
from pizauth_dbus.server.state import (
    DeviceWaiting,
    Empty,
    Entry,
    Pending,
    Store,
    now,
    waiting_url,
)
from pizauth_dbus.server.tasks import Tasks
from pizauth_dbus.timing import (
    NOTIFICATION_BACKOFF_FIRST,
    NOTIFICATION_BACKOFF_MAX,
    NOTIFICATION_OP_TIMEOUT,
)
from pizauth_dbus.urls import lands_here

log = logging.getLogger(__name__)


def _describe(e: BaseException) -> str:
    if isinstance(e, DBusError):
        return f"{e.type}: {e.text}" if e.text else e.type
    if isinstance(e, TimeoutError):
        return f"no answer within {NOTIFICATION_OP_TIMEOUT:g} s"
    return str(e) or type(e).__name__


@dataclass
class _Shown:
    identifier: str
    """desktop-notifier's identifier."""
    service_id: int
    """The notification service's id, for replacing and withdrawing."""
    owner: str
    """The unique bus name of the service that showed it: its ids mean nothing to another."""
    url: str = ""


Key = tuple[str, str]
"""("auth" | "error", account): at most one of each per account."""

Op = Callable[[], Awaitable[None]]


class Desktop:
    """Desktop notifications for one server.

    ``server.serve`` connects :meth:`auth_needed`, :meth:`auth_failed` and
    :meth:`account_changed` to the duties' signals, and calls :meth:`adopt` once the server
    owns its bus name.

    :param store: the accounts, read to tell whether a notification still applies.
    :param bus: the server's session bus connection, also used to talk to the service.
    """

    def __init__(self, store: Store, bus: MessageBus) -> None:
        self._store = store
        self._bus = bus
        self._backend = Backend(bus, APP_NAME, PROMPT_ICON)
        self._backend.on_service_closed = self._service_closed
        self._shown: dict[Key, _Shown] = {}
        self._record: Record | None = None  # made by adopt(), once the bus name is ours
        self._owner: str | None = None  # the service the backend and _shown know about
        self._queue: asyncio.Queue[Op] = asyncio.Queue()
        self._tasks = Tasks()
        self._present: bool | None = None  # None: not yet checked
        self._backoff = 0.0
        self._quiet_until = 0.0

    def start(self) -> None:
        self._tasks.spawn(self._run(), name="desktop")

    def adopt(self) -> None:
        """Withdraw what a killed predecessor left on screen, and record from now on what this
        server shows. Call once the server owns its bus name: until then another server may
        be running, and what is recorded is its own."""
        self._queue.put_nowait(self._adopt)

    async def stop(self, withdraw: bool = True) -> None:
        """Stop; with ``withdraw``, first close every notification still shown (their buttons
        would lead nowhere once this server has gone). Without (the bus has gone), forget the
        record: it names a bus no later server will be on."""
        if withdraw and self._shown:
            for key in list(self._shown):
                self._queue.put_nowait(functools.partial(self._withdraw, key))
            try:
                async with asyncio.timeout(NOTIFICATION_OP_TIMEOUT):
                    await self._queue.join()
            except TimeoutError:
                log.warning("Couldn't withdraw desktop notifications in time")
        await self._tasks.stop()
        if not withdraw and self._record is not None:
            self._record.save([])

    # -- what the duties tell it (synchronous, on the server's loop) ------------------------

    def _enabled(self) -> bool:
        return self._store.config.desktop_notifications

    def auth_needed(self, account: str, url: str) -> None:
        if self._enabled():
            self._queue.put_nowait(functools.partial(self._announce, account, url))

    def auth_failed(self, account: str, message: str, hint: str = "") -> None:
        if self._enabled():
            self._queue.put_nowait(functools.partial(self._error, account, message, hint))

    def account_changed(self, name: str, old: Entry | None, new: Entry | None) -> None:
        token = None if new is None else new.token
        shown = self._shown.get(("auth", name))
        # The URL shown is useless once the account no longer waits for it.
        if shown is not None and waiting_url(token) != shown.url:
            self._queue.put_nowait(functools.partial(self._withdraw, ("auth", name)))
        # The error is old news once the account has moved on (a new attempt, a token).
        if ("error", name) in self._shown and not isinstance(token, Empty):
            self._queue.put_nowait(functools.partial(self._withdraw, ("error", name)))

    # -- what the service tells us ---------------------------------------------------------

    def _clicked(self, account: str) -> None:
        # The URL pizauth show prints now: the one this prompt was made for, unless that has
        # just been replaced (whose prompt is on its way).
        try:
            token = self._store.get(account).token
        except UnknownAccountError:
            token = None
        if (url := waiting_url(token)) is not None:
            log.info("Opening the authorisation URL for %s", account)
            open_url(url)
        else:
            log.info("Not opening a browser for %s: it no longer needs authorising", account)

    def _service_closed(self, service_id: int, reason: int) -> None:
        # Expired, dismissed, or closed by the service itself (after an action, on servers
        # that ignore "resident"): gone from the screen, so nothing to withdraw any more.
        for key, shown in list(self._shown.items()):
            if shown.service_id == service_id:
                del self._shown[key]
                self._save()

    # -- the worker ----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            op = await self._queue.get()
            try:
                async with asyncio.timeout(NOTIFICATION_OP_TIMEOUT):
                    await op()
            except Exception as e:  # nothing here may stop the next notification
                self._backoff = min(
                    max(NOTIFICATION_BACKOFF_FIRST, self._backoff * 2), NOTIFICATION_BACKOFF_MAX
                )
                self._quiet_until = now() + self._backoff
                log.warning(
                    "Desktop notification failed (%s); trying again in %d s",
                    _describe(e),
                    self._backoff,
                )
            finally:
                self._queue.task_done()

    async def _check_service(self) -> bool:
        """Whether a notification service runs or can be activated, and sends are not paused.

        Asked before every send, over the server's connection: two cheap calls, where sending
        blindly would wait for a failed activation each time.
        """
        owner = await self._name_owner()
        present = owner is not None or (
            NOTIFICATIONS in await self._bus_call("ListActivatableNames", "", [])
        )
        if not present and self._present is not False:
            log.warning(
                "No desktop notification service (%s) on the session bus: not showing "
                "desktop notifications until one appears",
                NOTIFICATIONS,
            )
        elif present and self._present is False:
            log.info("A desktop notification service appeared; showing notifications again")
        self._present = present
        if owner != self._owner:
            await self._service_changed(owner)
        return present and now() >= self._quiet_until

    async def _service_changed(self, owner: str | None) -> None:
        if self._owner is not None:
            # The service we knew has gone, and what it showed went with it; what the backend
            # learned about it (markup, a default action) may not hold for the next one.
            for key in [k for k, s in self._shown.items() if s.owner == self._owner]:
                self._backend.forget(self._shown.pop(key).identifier)
            self._save()
            await self._backend.reset()
        if owner is not None:
            self._backoff = self._quiet_until = 0.0  # a new service deserves a try at once
        self._owner = owner

    async def _name_owner(self) -> str | None:
        """The unique bus name of the notification service, or None when none runs."""
        try:
            owner = await self._bus_call("GetNameOwner", "s", [NOTIFICATIONS])
        except BusCallError as e:
            if e.name is None:
                raise
            return None  # NameHasNoOwner
        return str(owner)

    async def _bus_call(self, member: str, signature: str, body: list[Any]) -> Any:
        """Call ``member`` of the bus itself over the server's connection; its first value."""
        return (
            await buscall.call(
                self._bus, buscall.DAEMON, member, signature, body, timeout=NOTIFICATION_OP_TIMEOUT
            )
        )[0]

    def _save(self) -> None:
        if self._record is not None:
            self._record.save([(s.owner, s.service_id) for s in self._shown.values() if s.owner])

    async def _adopt(self) -> None:
        self._record = Record(runtime_dir(), str(await self._bus_call("GetId", "", [])))
        left = self._record.load()
        owner = await self._name_owner() if left else None
        stale = [nid for service, nid in left if service == owner]
        for nid in stale:
            await self._backend.close(nid)
        if stale:
            log.info("Withdrew %d desktop notification(s) an earlier server left", len(stale))
        self._save()

    async def _send(
        self, key: Key, build: Callable[[], Notification], extras: Extras, url: str = ""
    ) -> None:
        """Send the notification ``build`` makes, replacing the one shown under ``key``."""
        if not await self._check_service():
            return
        await self._backend.connect()  # before build(): the text depends on the service
        note = build()
        old = self._shown.get(key)
        replaces = old.service_id if old is not None and old.owner == self._owner else 0
        service_id = await self._backend.show(note, replace(extras, replaces=replaces))
        if self._owner is None:  # started by this very send
            self._owner = await self._name_owner()
        self._backoff = 0.0
        if old is not None:
            self._backend.forget(old.identifier)
        self._shown[key] = _Shown(note.identifier, service_id, self._owner or "", url)
        self._save()

    def _body(self, text: str) -> str:
        return html.escape(text, quote=False) if self._backend.markup else text

    def _waiting(self, account: str, url: str) -> bool:
        """Whether ``account`` still waits for the person to open ``url``."""
        try:
            tok = self._store.get(account).token
        except UnknownAccountError:
            return False  # removed by a reload
        return waiting_url(tok) == url

    def _is_empty(self, account: str) -> bool:
        try:
            return isinstance(self._store.get(account).token, Empty)
        except UnknownAccountError:
            return False

    async def _announce(self, account: str, url: str) -> None:
        key = ("auth", account)
        if not self._waiting(account, url):
            return  # overtaken while queued (a token arrived, a revoke, a new URL)
        tok = self._store.get(account).token  # there: _waiting() just found it
        summary, body = prompt_text(
            account,
            tok.user_code if isinstance(tok, DeviceWaiting) else None,
            may_not_land=isinstance(tok, Pending) and not lands_here(tok.redirect_uri),
        )

        def on_open() -> None:
            self._clicked(account)

        await self._send(
            key,
            lambda: Notification(
                title=summary,
                message=self._body(body),
                icon=PROMPT_ICON,
                buttons=(Button(AUTHORISE_LABEL, on_pressed=on_open, identifier=AUTHORISE_ACTION),),
                on_clicked=on_open,
                timeout=NO_EXPIRY,
            ),
            PROMPT_EXTRAS,
            url,
        )
        # A change while the service was answering found nothing to withdraw yet.
        if key in self._shown and not self._waiting(account, url):
            await self._withdraw(key)

    async def _error(self, account: str, message: str, hint: str = "") -> None:
        key = ("error", account)
        summary, body = error_text(account, message, hint)
        await self._send(
            key,
            lambda: Notification(
                title=summary, message=self._body(body), icon=ERROR_ICON, timeout=NO_EXPIRY
            ),
            ERROR_EXTRAS,
        )
        if key in self._shown and not self._is_empty(account):
            await self._withdraw(key)

    async def _withdraw(self, key: Key) -> None:
        shown = self._shown.pop(key, None)
        if shown is None:
            return  # never shown, or already gone (dismissed, closed by the service)
        self._save()
        self._backend.forget(shown.identifier)
        # Only the service that showed it knows its id; if that one has gone, so has it.
        if shown.owner and shown.owner == await self._name_owner():
            await self._backend.close(shown.service_id)
