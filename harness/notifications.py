"""A fake freedesktop notification service (``org.freedesktop.Notifications``) for tests.

It owns the name on the test's private bus from a thread with its own event loop (so
synchronous tests can drive the real server while it answers), records every ``Notify`` and
``CloseNotification`` call, and plays the person: :meth:`FakeNotifications.click` emits
``ActionInvoked`` and :meth:`FakeNotifications.dismiss` ``NotificationClosed`` from the very
connection that owns the name, which is what clients' match rules require (a signal sent by
any other connection, e.g. `gdbus emit`, is ignored). Written on dbus-fast, so it needs
neither dbus-python nor python-dbusmock.

It is kept beside the real server (``harness/notification_daemon.py``) for what a real
one does not do on demand: keep a notification after its action has run (dunst's context
menu, any server honouring ``resident``: ``click(..., keep=True)``), vanish in the middle of a
call (:attr:`FakeNotifications.die_on_notify`), or show another application's notification
under an id pizauth once used (:meth:`FakeNotifications.show_foreign`).
"""

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass, replace
from typing import Annotated, Any, Self

from dbus_fast import Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusInt32, DBusSignature, DBusStr, DBusUInt32
from dbus_fast.service import ServiceInterface, dbus_method, dbus_signal

from harness.procs import wait_until
from harness.service import Service

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"

START_TIMEOUT = 10.0
"""Seconds to wait for the service to connect and own its name (it takes milliseconds)."""

REASON_DISMISSED = 2
REASON_CLOSED = 3

StrList = Annotated[list[str], DBusSignature("as")]
Hints = Annotated[dict[str, Variant], DBusSignature("a{sv}")]
U2 = Annotated[list[int], DBusSignature("uu")]
US = Annotated[list[Any], DBusSignature("us")]
Info = Annotated[list[str], DBusSignature("ssss")]


@dataclass(frozen=True)
class Sent:
    """One ``Notify`` call as the service received it."""

    id: int
    replaces_id: int
    app_name: str
    app_icon: str
    summary: str
    body: str
    actions: dict[str, str]
    """Action key -> label (``"default"`` is the click on the body)."""
    hints: dict[str, Any]
    timeout: int
    at: float
    """When it arrived, on ``time.monotonic()``."""


class _Service(ServiceInterface):
    def __init__(self, owner: "FakeNotifications") -> None:
        super().__init__(NAME)
        self._owner = owner

    @dbus_method()
    def GetCapabilities(self) -> StrList:
        return list(self._owner.capabilities)

    @dbus_method()
    def GetServerInformation(self) -> Info:
        return [self._owner.server_name, "pizauth-tests", "1.0", "1.2"]

    @dbus_method()
    def Notify(
        self,
        app_name: DBusStr,
        replaces_id: DBusUInt32,
        app_icon: DBusStr,
        summary: DBusStr,
        body: DBusStr,
        actions: StrList,
        hints: Hints,
        expire_timeout: DBusInt32,
    ) -> DBusUInt32:
        if self._owner.die_on_notify:
            self._owner._die()
        nid = self._owner._notify(
            Sent(
                id=0,
                replaces_id=replaces_id,
                app_name=app_name,
                app_icon=app_icon,
                summary=summary,
                body=body,
                actions=dict(zip(actions[::2], actions[1::2], strict=True)),
                hints={k: v.value for k, v in hints.items()},
                timeout=expire_timeout,
                at=time.monotonic(),
            )
        )
        if (action := self._owner.click_at_once) is not None:
            # Queued behind this call's reply: the two reach the client back to back, often
            # in one read, before the client has even seen the id the reply carries.
            asyncio.get_running_loop().call_soon(self.ActionInvoked, nid, action)
        return nid

    @dbus_method()
    def CloseNotification(self, id: DBusUInt32) -> None:
        if self._owner._close(id):
            self.NotificationClosed(id, REASON_CLOSED)

    @dbus_signal()
    def ActionInvoked(self, id: int, action_key: str) -> US:
        return [id, action_key]

    @dbus_signal()
    def NotificationClosed(self, id: int, reason: int) -> U2:
        return [id, reason]


async def _disconnect(bus: MessageBus) -> None:
    # disconnect() only shuts the socket down; the socket is closed when the reader sees
    # that, so wait for it (an unclosed socket is a ResourceWarning, an error in this suite).
    bus.disconnect()
    await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]


class FakeNotifications(Service):
    """The fake service; a context manager that stops it on exit.

    :param address: the bus to own ``org.freedesktop.Notifications`` on.
    :param capabilities: what ``GetCapabilities`` answers (``actions`` is needed for buttons).
    :param server_name: the name ``GetServerInformation`` gives, to pass for a real server.

    Read :attr:`sent` and :attr:`closed` (copies, safe from the test's thread) and :attr:`shown`
    (ids currently open).
    """

    def __init__(
        self,
        address: str,
        *,
        capabilities: tuple[str, ...] = ("body", "actions"),
        server_name: str = "fake",
    ) -> None:
        self.address = address
        self.capabilities = capabilities
        self.server_name = server_name
        self._lock = threading.Lock()
        self._sent: list[Sent] = []
        self._closed: list[int] = []
        self._open: set[int] = set()
        self._next_id = 1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._bus: MessageBus | None = None
        self._service: _Service | None = None
        self.die_on_notify = False
        self.click_at_once: str | None = None
        """An action to invoke the moment a notification is sent (a person quicker than the
        client's own bookkeeping: the signal arrives right behind the Notify reply)."""
        """When set, the next ``Notify`` drops the connection instead of answering, as a
        service that crashes mid-call (the bus then answers the caller with an error)."""

    # -- what the service saw -------------------------------------------------------------------

    @property
    def sent(self) -> list[Sent]:
        with self._lock:
            return list(self._sent)

    @property
    def closed(self) -> list[int]:
        """Ids passed to ``CloseNotification`` that were open, in order."""
        with self._lock:
            return list(self._closed)

    @property
    def shown(self) -> set[int]:
        with self._lock:
            return set(self._open)

    def wait_sent(self, count: int, timeout: float = 10.0) -> list[Sent]:
        """Wait (bounded) until at least ``count`` notifications arrived; returns them all."""
        if not wait_until(lambda: len(self.sent) >= count, timeout):
            raise AssertionError(f"expected {count} Notify calls, got {self.sent}")
        return self.sent

    def _notify(self, sent: Sent) -> int:
        with self._lock:
            if sent.replaces_id in self._open:
                nid = sent.replaces_id
            else:
                nid, self._next_id = self._next_id, self._next_id + 1
            self._open.add(nid)
            self._sent.append(replace(sent, id=nid))
            return nid

    def show_foreign(self, summary: str = "another application") -> int:
        """Show a notification as some other application would; returns its id."""
        return self._notify(Sent(0, 0, "other", "", summary, "", {}, {}, -1, time.monotonic()))

    def _die(self) -> None:
        bus = self._bus
        if bus is not None:
            bus.disconnect()

    def _close(self, nid: int) -> bool:
        with self._lock:
            if nid not in self._open:
                return False
            self._open.discard(nid)
            self._closed.append(nid)
            return True

    # -- playing the person ---------------------------------------------------------------------

    def click(self, nid: int, action: str = "default", *, keep: bool = False) -> None:
        """Invoke ``action`` on notification ``nid``; like most services, this closes it,
        unless ``keep``: then it stays, as with a resident notification or dunst's context menu.
        """
        self._emit(nid, action, close=not keep)

    def dismiss(self, nid: int) -> None:
        """The person closes notification ``nid``."""
        self._emit(nid, None)

    def _emit(self, nid: int, action: str | None, *, close: bool = True) -> None:
        service, loop = self._service, self._loop
        assert service is not None and loop is not None, "not started"

        def emit() -> None:
            if action is not None:
                service.ActionInvoked(nid, action)
            if not close:
                return
            with self._lock:
                self._open.discard(nid)
            service.NotificationClosed(nid, REASON_DISMISSED)

        loop.call_soon_threadsafe(emit)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        """Connect, export and own the name; returns once the name is owned (bounded)."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fake-notify", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._connect(), loop).result(START_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        return self

    async def _connect(self) -> None:
        bus = await MessageBus(bus_address=self.address).connect()
        self._bus = bus
        self._service = _Service(self)
        bus.export(PATH, self._service)
        await bus.request_name(NAME)

    def stop(self) -> None:
        """Disconnect (the name goes with the connection) and end the thread. Idempotent."""
        loop, thread, bus = self._loop, self._thread, self._bus
        self._loop = self._thread = self._bus = None
        if loop is None:
            return
        if bus is not None and loop.is_running():
            with contextlib.suppress(Exception):  # already gone with the bus daemon
                asyncio.run_coroutine_threadsafe(_disconnect(bus), loop).result(START_TIMEOUT)
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(START_TIMEOUT)
        loop.close()

    def started(self) -> bool:
        return self._loop is not None
