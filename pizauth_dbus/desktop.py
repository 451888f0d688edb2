"""Native desktop notifications: which account needs authorising, one click to sign in.

This module owns everything the server shows on the desktop through the freedesktop
notification service (``org.freedesktop.Notifications``), by way of desktop-notifier:

- an "authorisation needed" notification per Pending account, sent at every announcement of
  the :class:`~pizauth_dbus.reminders.Reminders` (so no more often than ``auth_notify_interval``),
  each reminder replacing the account's previous notification instead of stacking; its
  "Authorise" button and its default (body) click open the URL in the user's browser;
- its withdrawal once the account stops waiting for that URL (a token arrived, a revoke, a
  reload that removed or changed the account, a new authorisation with a new URL);
- an error notification, with the provider's message, when an authorisation fails;
- staying quiet and harmless when there is no notification service: a warning is logged once,
  and no bus connection is opened per attempt.

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
import shutil
import subprocess
import threading
import webbrowser
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.aio.proxy_object import ProxyInterface
from desktop_notifier import Button, Icon, Notification
from desktop_notifier.backends.dbus import DBusDesktopNotifier, get_hints_signature

from pizauth_dbus.errors import UnknownAccountError
from pizauth_dbus.state import Active, Entry, Pending, Store, now

log = logging.getLogger(__name__)

NOTIFICATIONS = "org.freedesktop.Notifications"
NOTIFICATIONS_PATH = "/org/freedesktop/Notifications"

APP_NAME = "pizauth"
"""The application name servers show; the same as the desktop entry's ``Name``."""

DESKTOP_ENTRY = "pizauth"
"""``data/pizauth.desktop`` without its suffix: GNOME and KDE find the app's name, icon and
per-application notification settings through this hint."""

APP_ICON = Icon(name="dialog-password")
"""A themed icon every desktop has (also the desktop entry's ``Icon``), rather than
desktop-notifier's default Python logo."""

AUTHORISE_ACTION = "authorise"

OP_TIMEOUT = 10.0
"""Seconds one exchange with the notification service may take: a hung service must not
stall the queue behind it forever."""

BACKOFF_FIRST = 30.0
BACKOFF_MAX = 900.0
"""After a failed send to a service that is present, sends pause for BACKOFF_FIRST seconds,
doubling up to BACKOFF_MAX (the default ``auth_notify_interval``), so that a broken service is
not asked, and its failure not logged, at every reminder."""


def open_url(url: str) -> None:
    """Open ``url`` in the user's browser, in a thread of its own.

    The webbrowser module honours ``$BROWSER`` and otherwise prefers ``xdg-open`` when there is a
    display; when it finds nothing, ``xdg-open`` is tried anyway (it may still reach the desktop
    through D-Bus portals). A thread, because a browser command may not return until the
    browser exits; a daemon thread, so that such a browser cannot hold up the server's exit.
    """

    def run() -> None:
        try:
            if webbrowser.open(url):
                return
            if shutil.which("xdg-open"):
                subprocess.Popen(
                    ["xdg-open", url],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    start_new_session=True,
                )
                return
        except Exception as e:
            log.warning("Couldn't open a browser: %s", e)
            return
        log.warning("Couldn't open a browser: no $BROWSER, display or xdg-open")

    threading.Thread(target=run, name="open-url", daemon=True).start()


class _Backend(DBusDesktopNotifier):
    """desktop-notifier's D-Bus backend, on a bus connection we own, plus what 6.2 lacks.

    - desktop-notifier connects a new bus for every send until one succeeds, and never closes
      the connections of failed attempts (six failed sends leave six connections); here the
      proxy is made on the server's own connection, so a failure can leave nothing behind.
    - Its ``Notify`` always sends ``replaces_id`` 0 and no ``desktop-entry`` hint; both are
      added to the call here (:attr:`replaces` is read by the next send: sends are serialised).
    """

    def __init__(self, bus: MessageBus) -> None:
        super().__init__(APP_NAME, APP_ICON)
        self._own_bus = bus
        self.replaces = 0
        """The server's id of the notification the next send replaces; 0 for a new one."""
        self.last_id = 0
        """The server's id of the notification sent last."""
        self.markup = False
        """Whether the service renders markup in bodies (then text must be escaped)."""

    async def connect(self) -> None:
        """Make the proxy for the service now (it is otherwise made by the first send)."""
        if self.interface is None:
            self.interface = await self._init_dbus()

    async def _init_dbus(self) -> ProxyInterface:
        bus = self._own_bus
        introspection = await bus.introspect(NOTIFICATIONS, NOTIFICATIONS_PATH)
        proxy = bus.get_proxy_object(NOTIFICATIONS, NOTIFICATIONS_PATH, introspection)
        iface = proxy.get_interface(NOTIFICATIONS)
        # Everything that can fail comes before the signal subscriptions: a retry after a
        # failure in between would subscribe twice, and one click would open two browsers.
        # dbus-fast makes the call_* methods at run time, from the introspection data.
        caps = await iface.call_get_capabilities()  # type: ignore[attr-defined]
        self.markup = "body-markup" in caps
        # The signals desktop-notifier dispatches to callbacks, where the service has them.
        for signal, handler in (
            ("notification_closed", self._on_closed),
            ("action_invoked", self._on_action),
            ("notification_replied", self._on_reply),
        ):
            if hasattr(iface, f"on_{signal}"):
                getattr(iface, f"on_{signal}")(handler)
        variant_hints = get_hints_signature(iface) == "a{sv}"
        notify = iface.call_notify  # type: ignore[attr-defined]

        async def notify_with_extras(
            app_name: str,
            replaces_id: int,
            icon: str,
            summary: str,
            body: str,
            actions: list[str],
            hints: dict[str, Any],
            timeout: int,
        ) -> int:
            hints = dict(hints)
            hints["desktop-entry"] = Variant("s", DESKTOP_ENTRY) if variant_hints else DESKTOP_ENTRY
            nid: int = await notify(
                app_name, self.replaces, icon, summary, body, actions, hints, timeout
            )
            self.last_id = nid
            return nid

        setattr(iface, "call_notify", notify_with_extras)  # noqa: B010 (instance attribute)
        return iface

    def forget(self, identifier: str) -> None:
        """Drop a notification that a later one replaced from desktop-notifier's bookkeeping
        (the service never reports the replaced one closed)."""
        self._clear_notification_from_cache(identifier)
        self._platform_to_interface_notification_identifier.inverse.pop(identifier, None)


@dataclass
class _Shown:
    identifier: str
    """desktop-notifier's identifier."""
    server_id: int
    """The notification service's id, for replacing."""
    url: str = ""


Op = Callable[[], Awaitable[None]]


class Desktop:
    """Desktop notifications for one server.

    ``server.serve`` connects :meth:`auth_needed`, :meth:`auth_failed` and
    :meth:`account_changed` to the duties' signals.

    :param store: the accounts, read to tell whether a notification still applies.
    :param bus: the server's session bus connection, also used to talk to the service.
    """

    def __init__(self, store: Store, bus: MessageBus) -> None:
        self._store = store
        self._bus = bus
        self._backend = _Backend(bus)
        # Keyed by ("auth" | "error", account): at most one of each per account.
        self._shown: dict[tuple[str, str], _Shown] = {}
        self._queue: asyncio.Queue[Op] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._present: bool | None = None  # None: not yet checked
        self._backoff = 0.0
        self._quiet_until = 0.0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="desktop")

    async def stop(self, withdraw: bool = True) -> None:
        """Stop; with ``withdraw``, first close every notification still shown (their buttons
        would lead nowhere once this server has gone)."""
        if withdraw and self._shown:
            for key in list(self._shown):
                self._queue.put_nowait(functools.partial(self._withdraw, key))
            try:
                await asyncio.wait_for(self._queue.join(), OP_TIMEOUT)
            except TimeoutError:
                log.warning("Couldn't withdraw desktop notifications in time")
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    # -- what the duties tell it (synchronous, on the server's loop) ------------------------

    def _enabled(self) -> bool:
        return self._store.config.desktop_notifications

    def auth_needed(self, account: str, url: str) -> None:
        if self._enabled():
            self._queue.put_nowait(functools.partial(self._announce, account, url))

    def auth_failed(self, account: str, message: str) -> None:
        if self._enabled():
            self._queue.put_nowait(functools.partial(self._error, account, message))

    def account_changed(self, name: str, old: Entry | None, new: Entry | None) -> None:
        token = None if new is None else new.token
        shown = self._shown.get(("auth", name))
        # The URL shown is useless once the account no longer waits for it.
        if shown is not None and not (isinstance(token, Pending) and token.url == shown.url):
            self._queue.put_nowait(functools.partial(self._withdraw, ("auth", name)))
        if ("error", name) in self._shown and (token is None or isinstance(token, Active)):
            self._queue.put_nowait(functools.partial(self._withdraw, ("error", name)))

    # -- the worker ----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            op = await self._queue.get()
            try:
                await asyncio.wait_for(op(), OP_TIMEOUT)
            except Exception as e:  # nothing here may stop the next notification
                log.warning("Desktop notification failed: %s", e or type(e).__name__)
            finally:
                self._queue.task_done()

    async def _service_available(self) -> bool:
        """Whether a notification service runs or can be activated, and sends are not paused.

        Asked before every send, over the server's connection: two cheap calls, where sending
        blindly would wait for a failed activation and log a traceback each time.
        """
        present = await self._bus_call("NameHasOwner", "s", [NOTIFICATIONS]) or (
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
        return present and now() >= self._quiet_until

    async def _bus_call(self, member: str, signature: str, body: list[Any]) -> Any:
        reply = await self._bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member=member,
                signature=signature,
                body=body,
            )
        )
        if reply is None or reply.message_type != MessageType.METHOD_RETURN:
            raise RuntimeError(f"{member} failed")
        return reply.body[0]

    async def _send(
        self, key: tuple[str, str], build: Callable[[], Notification], url: str = ""
    ) -> None:
        """Send the notification ``build`` makes, replacing the one shown under ``key``."""
        if not await self._service_available():
            return
        await self._backend.connect()  # before build(): the text depends on the service
        note = build()
        old = self._shown.get(key)
        self._backend.replaces = old.server_id if old is not None else 0
        await self._backend.send(note)
        # desktop-notifier logs and swallows failures; only a sent notification is listed.
        if note.identifier not in await self._backend.get_current_notifications():
            self._backoff = min(max(BACKOFF_FIRST, self._backoff * 2), BACKOFF_MAX)
            self._quiet_until = now() + self._backoff
            log.warning("Desktop notifications paused for %d s", self._backoff)
            return
        self._backoff = 0.0
        if old is not None:
            self._backend.forget(old.identifier)
        self._shown[key] = _Shown(note.identifier, self._backend.last_id, url)

    def _body(self, text: str) -> str:
        return html.escape(text, quote=False) if self._backend.markup else text

    def _waiting(self, account: str, url: str) -> bool:
        """Whether ``account`` still waits for the person to open ``url``."""
        try:
            tok = self._store.get(account).token
        except UnknownAccountError:
            return False  # removed by a reload
        return isinstance(tok, Pending) and tok.url == url

    async def _announce(self, account: str, url: str) -> None:
        key = ("auth", account)
        if not self._waiting(account, url):
            return  # overtaken while queued (a token arrived, a revoke, a new URL)

        def on_open() -> None:
            self._clicked(key, url)

        await self._send(
            key,
            lambda: Notification(
                title=f"Authorise {account}",
                message=self._body(
                    f"pizauth needs you to sign in for the account “{account}”. Authorise "
                    "opens the sign-in page in your browser."
                ),
                buttons=(Button("Authorise", on_pressed=on_open, identifier=AUTHORISE_ACTION),),
                on_clicked=on_open,
                on_dismissed=lambda: self._dismissed(key),
            ),
            url,
        )
        # A change while the service was answering found nothing to withdraw yet.
        if key in self._shown and not self._waiting(account, url):
            await self._withdraw(key)

    async def _error(self, account: str, message: str) -> None:
        key = ("error", account)
        await self._send(
            key,
            lambda: Notification(
                title=f"Authorising {account} failed",
                message=self._body(message),
                on_dismissed=lambda: self._dismissed(key),
            ),
        )

    async def _withdraw(self, key: tuple[str, str]) -> None:
        shown = self._shown.pop(key, None)
        # Already gone (clicked, dismissed, expired) when desktop-notifier no longer lists it.
        if shown is not None and shown.identifier in (
            await self._backend.get_current_notifications()
        ):
            await self._backend.clear(shown.identifier)

    def _clicked(self, key: tuple[str, str], url: str) -> None:
        log.info("Opening the authorisation URL for %s", key[1])
        self._dismissed(key)
        open_url(url)

    def _dismissed(self, key: tuple[str, str]) -> None:
        # The service has closed it; the next reminder starts a new one.
        self._shown.pop(key, None)
