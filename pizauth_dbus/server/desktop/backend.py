"""desktop-notifier's D-Bus backend, adapted to what pizauth's notifications need.

This is the one module that reaches past desktop-notifier's public API; everything else uses
:class:`Backend` only. ``tests/test_desktop_backend.py`` fails loudly when a desktop-notifier
release changes what is relied on here. What 6.x cannot do, and how it is done:

- run on a bus connection we own (the server's): desktop-notifier connects a new bus for
  every send until one succeeds and never closes those of failed attempts. ``_init_dbus`` is
  overridden;
- send ``replaces_id``, extra hints (``desktop-entry``, ``resident``), a label for the default
  (body click) action or no default action at all: the proxy's ``call_notify`` is wrapped, and
  the arguments desktop-notifier computed are adjusted on their way to the service;
- tell the caller the service's id for a notification and close that id whenever the caller
  wants: desktop-notifier forgets the id as soon as an action is invoked, although servers
  honouring ``resident`` (and dunst's context menu) keep the notification on screen;
- report every ``NotificationClosed`` by the service's id, including those desktop-notifier
  has forgotten;
- fail by raising, never by logging a traceback: the base class's ``send`` logs failures with
  ``exc_info``, so :meth:`Backend.show` calls ``_send`` and keeps the base class's books itself.

It also closes notifications on GNOME's stand-alone notification-daemon (3.20, the one Debian 12
ships), which answers ``CloseNotification`` but leaves a notification on screen while it is
shown there (its source says "FIXME: withdraw currently showing bubbles"): there, the
notification is first replaced in place by a transient one that expires at once, then closed.

Relied on: ``DBusDesktopNotifier._init_dbus``, ``._send``, ``.interface``, ``._capabilities``,
``._notification_cache``, ``._clear_notification_from_cache``,
``._platform_to_interface_notification_identifier`` (a bidict of service id to identifier),
the handlers ``._on_closed``, ``._on_action`` and ``._on_reply``, and ``_send`` calling
``interface.call_notify(app_name, replaces_id, icon, summary, body, actions, hints, timeout)``
positionally, with ``actions`` opening with ``("default", "")`` when body clicks are supported.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dbus_fast import Variant
from dbus_fast.aio import MessageBus
from dbus_fast.aio.proxy_object import ProxyInterface
from dbus_fast.errors import DBusError
from desktop_notifier import Icon, Notification
from desktop_notifier.backends.dbus import (
    DEFAULT_ACTION_KEY,
    DBusDesktopNotifier,
    get_hints_signature,
)

NOTIFICATIONS = "org.freedesktop.Notifications"
NOTIFICATIONS_PATH = "/org/freedesktop/Notifications"

SHOWN_UNTIL_USER_ACTS = {"Notification Daemon"}
SIGNAL_DEFER_TURNS = 10
"""Turns of the loop a signal about a not yet known notification waits for its send to finish
(one is enough; the rest are a margin); then it is dispatched, and ignored if still unknown."""
"""Servers (``GetServerInformation`` names) that keep a notification on screen after
``CloseNotification`` until it expires: GNOME's stand-alone notification-daemon."""

EXPIRE_AT_ONCE_MS = 1

ClosedHook = Callable[[int, int], None]
"""Called as ``hook(service_id, reason)`` for every ``NotificationClosed`` the service sends."""


@dataclass(frozen=True)
class Extras:
    """What one :meth:`Backend.show` adds to desktop-notifier's ``Notify`` call."""

    replaces: int = 0
    """The service's id of the notification this one replaces in place; 0 for a new one."""
    hints: Mapping[str, Variant] = field(default_factory=dict)
    """Hints added to (or overriding) desktop-notifier's own."""
    default_label: str | None = None
    """The label of the default (body click) action, which servers with a context menu list
    (dunst); None to send no default action, for a notification with nothing to click."""


class Backend(DBusDesktopNotifier):
    """desktop-notifier's D-Bus backend on the server's own bus connection.

    :param bus: the connection to talk to the notification service over.
    :param app_name: the application name servers show.
    :param app_icon: the icon of notifications that name none.
    """

    def __init__(self, bus: MessageBus, app_name: str, app_icon: Icon) -> None:
        super().__init__(app_name, app_icon)
        self._own_bus = bus
        self._extras = Extras()
        self._last_id = 0
        self._subscribed: list[tuple[str, Callable[..., None]]] = []
        self._expire_before_close = False
        self._variant_hints = True
        self._plain_notify: Callable[..., Awaitable[int]] | None = None
        self.markup = False
        """Whether the service renders markup in bodies (then text must be escaped)."""
        self.on_service_closed: ClosedHook | None = None

    async def connect(self) -> None:
        """Make the proxy for the service now (it is otherwise made by the first send)."""
        if self.interface is None:
            self.interface = await self._init_dbus()

    async def reset(self) -> None:
        """Forget the service: the next call introspects and asks its capabilities afresh.

        For when another program (or none) now owns the service's name: what was learned about
        the last one (markup, a default action, the signature of hints) may not hold.
        """
        iface, self.interface = self.interface, None
        for signal, handler in self._subscribed:
            getattr(iface, f"off_{signal}")(handler)
        self._subscribed.clear()
        self._capabilities = None
        self._platform_to_interface_notification_identifier.clear()
        self._notification_cache.clear()

    async def _init_dbus(self) -> ProxyInterface:
        bus = self._own_bus
        introspection = await bus.introspect(NOTIFICATIONS, NOTIFICATIONS_PATH)
        proxy = bus.get_proxy_object(NOTIFICATIONS, NOTIFICATIONS_PATH, introspection)
        iface = proxy.get_interface(NOTIFICATIONS)
        # Everything that can fail comes before the signal subscriptions: a retry after a
        # failure in between would subscribe twice, and one click would open two browsers.
        # dbus-fast makes the call_* methods at run time, from the introspection data.
        caps = await iface.call_get_capabilities()  # type: ignore[attr-defined]
        info = await iface.call_get_server_information()  # type: ignore[attr-defined]
        variant_hints = get_hints_signature(iface) == "a{sv}"
        notify = iface.call_notify  # type: ignore[attr-defined]
        self.markup = "body-markup" in caps
        self._expire_before_close = info[0] in SHOWN_UNTIL_USER_ACTS
        self._variant_hints = variant_hints
        self._plain_notify = notify

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
            extras = self._extras
            actions = list(actions)
            if actions[:2] == [DEFAULT_ACTION_KEY, ""]:
                label = extras.default_label
                actions[:2] = [] if label is None else [DEFAULT_ACTION_KEY, label]
            hints = dict(hints)
            for key, value in extras.hints.items():
                hints[key] = value if variant_hints else str(value.value)
            nid: int = await notify(
                app_name, extras.replaces, icon, summary, body, actions, hints, timeout
            )
            self._last_id = nid
            return nid

        setattr(iface, "call_notify", notify_with_extras)  # noqa: B010 (instance attribute)
        # The signals desktop-notifier dispatches to callbacks, where the service has them.
        for signal, handler in (
            ("notification_closed", self._closed),
            ("action_invoked", self._on_action),
            ("notification_replied", self._on_reply),
        ):
            if hasattr(iface, f"on_{signal}"):
                deferred = self._once_known(handler)
                getattr(iface, f"on_{signal}")(deferred)
                self._subscribed.append((signal, deferred))
        return iface

    def _once_known(self, handler: Callable[..., None]) -> Callable[..., None]:
        """``handler`` for a signal about a notification, delivered once its id is known.

        A click can follow the Notify reply so closely that both arrive in one read: the
        signal is then dispatched before the send that awaits the reply has stored the id,
        and desktop-notifier would drop it as someone else's notification. So a signal about
        an id not (yet) known waits a few turns of the loop, which is all the send needs.
        """
        known = self._platform_to_interface_notification_identifier

        def deliver(nid: int, *args: Any, turns: int = 0) -> None:
            if nid in known or turns >= SIGNAL_DEFER_TURNS:
                handler(nid, *args)
                return
            asyncio.get_running_loop().call_soon(lambda: deliver(nid, *args, turns=turns + 1))

        return deliver

    async def show(self, notification: Notification, extras: Extras) -> int:
        """Send ``notification`` with ``extras``; returns the service's id for it.

        :raises Exception: whatever the bus or the service raised; nothing is logged here.
        """
        await self.connect()
        self._extras, self._last_id = extras, 0
        try:
            await self._send(notification)
        finally:
            self._extras = Extras()
        if not self._last_id:
            raise RuntimeError("the service does not look like a notification service")
        # What the base class's send does after a success, so that callbacks find it.
        self._notification_cache[notification.identifier] = notification
        return self._last_id

    async def close(self, service_id: int) -> None:
        """Ask the service to close ``service_id``, whether desktop-notifier knows it or not."""
        await self.connect()
        assert self.interface is not None and self._plain_notify is not None
        # DBusError: already closed, the specification's answer for an id it no longer has.
        with contextlib.suppress(DBusError):
            if self._expire_before_close:
                # Transient: should the id be gone already, the new one this makes goes too.
                hints = {"transient": Variant("b", True)} if self._variant_hints else {}
                await self._plain_notify(
                    self.app_name, service_id, "", "", "", [], hints, EXPIRE_AT_ONCE_MS
                )
            await self.interface.call_close_notification(service_id)  # type: ignore[attr-defined]
        identifier = self._platform_to_interface_notification_identifier.pop(service_id, None)
        if identifier is not None:
            self._clear_notification_from_cache(identifier)

    def forget(self, identifier: str) -> None:
        """Drop a notification that a later one replaced from desktop-notifier's books (the
        service never reports the replaced one closed)."""
        self._clear_notification_from_cache(identifier)
        self._platform_to_interface_notification_identifier.inverse.pop(identifier, None)

    def _closed(self, nid: int, reason: int) -> None:
        self._on_closed(nid, reason)
        if self.on_service_closed is not None:
            self.on_service_closed(nid, reason)
