"""The adapter to desktop-notifier (``pizauth_dbus/server/desktop/backend.py``): what it relies on.

The adapter reaches past desktop-notifier's public API; these tests fail loudly, naming what
changed, when a desktop-notifier release no longer has or does what it relies on. They run the
adapter in this process on a dbus-fast connection to the fake service on the private bus, so
they check what reaches the wire, not what the code meant to send.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from unittest.mock import Mock

import desktop_notifier
import pytest
from dbus_fast import Variant
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError
from desktop_notifier import Button, Icon, Notification
from desktop_notifier.backends import dbus as dn_dbus

from harness.dbus_daemon import PrivateBus
from harness.notifications import FakeNotifications
from pizauth_dbus.server.desktop.backend import Backend, Extras

WAIT = 10.0

CHANGED = "desktop-notifier {} changed what pizauth_dbus/server/desktop/backend.py relies on: {}"


def changed(what: str) -> str:
    return CHANGED.format(desktop_notifier.__version__, what)


@pytest.fixture
def notifications(session_bus: PrivateBus) -> Iterator[FakeNotifications]:
    with FakeNotifications(session_bus.address) as fake:
        yield fake


@pytest.fixture
async def bus(session_bus: PrivateBus) -> AsyncIterator[MessageBus]:
    connection = await MessageBus(bus_address=session_bus.address).connect()
    yield connection
    connection.disconnect()
    await connection.wait_for_disconnect()  # type: ignore[no-untyped-call]


async def until(condition: Callable[[], bool]) -> None:
    """Wait (bounded) for ``condition``, letting this loop run signal handlers meanwhile."""
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.02)


def test_desktop_notifier_still_has_what_the_adapter_relies_on() -> None:
    cls = dn_dbus.DBusDesktopNotifier
    for name in ("_init_dbus", "_send", "_on_closed", "_on_action", "_on_reply"):
        assert callable(getattr(cls, name, None)), changed(f"no method {name}")
    assert callable(getattr(cls, "_clear_notification_from_cache", None)), changed(
        "no _clear_notification_from_cache"
    )
    assert dn_dbus.DEFAULT_ACTION_KEY == "default", changed("the default action's key")
    backend = cls("app")
    assert backend.interface is None, changed("no interface attribute")
    ids = backend._platform_to_interface_notification_identifier
    assert hasattr(ids, "inverse"), changed("the service id map is no longer a bidict")
    assert isinstance(backend._notification_cache, dict), changed("no _notification_cache")
    assert hasattr(backend, "_capabilities"), changed("no _capabilities cache")


async def test_show_sends_what_desktop_notifier_made_plus_the_extras(
    bus: MessageBus, notifications: FakeNotifications
) -> None:
    backend = Backend(bus, "pizauth", Icon(name="app-icon"))
    note = Notification(
        title="Summary",
        message="Body",
        icon=Icon(name="note-icon"),
        buttons=(Button("Press", identifier="press"),),
        on_clicked=Mock(),
        timeout=0,
    )
    extras = Extras(hints={"resident": Variant("b", True)}, default_label="Open")
    nid = await backend.show(note, extras)
    (sent,) = notifications.sent
    assert sent.id == nid, changed("the id Notify returned is not the one recorded")
    assert (sent.app_name, sent.app_icon, sent.summary, sent.body) == (
        "pizauth",
        "note-icon",
        "Summary",
        "Body",
    ), changed("Notify's positional arguments")
    assert sent.actions == {"default": "Open", "press": "Press"}, changed("actions")
    assert sent.hints == {"urgency": 1, "resident": True}, changed("hints")
    assert sent.timeout == 0, changed("the timeout")

    # Replacing in place, and a notification with nothing to click.
    again = await backend.show(note, Extras(replaces=nid, default_label="Open"))
    assert again == nid and notifications.sent[1].replaces_id == nid, changed("replaces_id")
    bare = Notification(title="Error", message="Text", timeout=0)
    await backend.show(bare, Extras())
    assert notifications.sent[2].actions == {}, changed("the default action is always sent")


async def test_clicks_call_back_and_close_works_after_desktop_notifier_forgot(
    bus: MessageBus, notifications: FakeNotifications
) -> None:
    backend = Backend(bus, "pizauth", Icon(name="app-icon"))
    closed = Mock()
    backend.on_service_closed = closed
    pressed = Mock()
    note = Notification(
        title="T", message="M", buttons=(Button("Press", identifier="p", on_pressed=pressed),)
    )
    nid = await backend.show(note, Extras(default_label="Open"))
    # The action runs; the service keeps the notification, as dunst's context menu does.
    notifications.click(nid, "p", keep=True)
    await until(lambda: pressed.call_count == 1)
    await backend.close(nid)
    assert notifications.closed == [nid]
    await until(lambda: closed.call_count == 1)
    closed.assert_called_once_with(nid, 3)
    # Closing again is no error: the service no longer has it.
    await backend.close(nid)


async def test_after_a_reset_one_click_calls_back_once(
    bus: MessageBus, notifications: FakeNotifications
) -> None:
    backend = Backend(bus, "pizauth", Icon(name="app-icon"))
    await backend.connect()
    await backend.reset()
    clicked = Mock()
    nid = await backend.show(Notification(title="T", message="M", on_clicked=clicked), Extras())
    notifications.click(nid)
    await until(lambda: clicked.call_count >= 1)
    await asyncio.sleep(0.2)  # a second subscription would call back again meanwhile
    assert clicked.call_count == 1


async def test_a_failure_raises_and_logs_nothing(
    bus: MessageBus, notifications: FakeNotifications, caplog: pytest.LogCaptureFixture
) -> None:
    backend = Backend(bus, "pizauth", Icon(name="app-icon"))
    await backend.connect()
    notifications.die_on_notify = True
    with caplog.at_level(logging.DEBUG), pytest.raises(DBusError):
        await backend.show(Notification(title="T", message="M"), Extras())
    assert [r for r in caplog.records if r.name.startswith("desktop_notifier")] == []


async def test_on_notification_daemon_close_first_expires_the_notification(
    bus: MessageBus, session_bus: PrivateBus
) -> None:
    with FakeNotifications(session_bus.address, server_name="Notification Daemon") as fake:
        backend = Backend(bus, "pizauth", Icon(name="app-icon"))
        nid = await backend.show(Notification(title="T", message="M", timeout=0), Extras())
        await backend.close(nid)
        expire = fake.sent[-1]
        assert (expire.replaces_id, expire.timeout, expire.actions) == (nid, 1, {})
        assert expire.hints == {"transient": True}
        assert fake.closed == [nid]
