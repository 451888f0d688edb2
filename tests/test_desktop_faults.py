"""Desktop notifications where servers and services misbehave: what only a fake does on demand.

A notification kept on screen after its action ran (dunst's context menu, any server honouring
``resident``), a service that vanishes mid-call or is replaced by another, an activated service
that crashes, and a pizauth server killed with its prompt on screen. The fake service
(``harness/notifications.py``) plays each part; everything else is real: the pizauth
server and CLI, the private bus, the fake provider's redirect, the recording browser.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.dbus_daemon import PrivateBus
from harness.desktop import WAIT, Desktop, config, kill
from harness.fakeoauth import FakeOAuth
from harness.flows import pending_url, wait_for_token
from harness.notifications import NAME, FakeNotifications
from harness.procs import wait_until
from harness.server import PizauthServer
from harness.user import follow

FAILED = "Desktop notification failed"


def records(server: PizauthServer) -> list[Path]:
    """The server's records of what it shows (``desktop_record.py``)."""
    return sorted((Path(server.env["XDG_RUNTIME_DIR"]) / "pizauth").glob("notifications-*"))


def by_token(s: PizauthServer, fake: FakeOAuth, url: str) -> None:
    assert follow(url).status == 200
    wait_for_token(s, "acct")


def by_revoke(s: PizauthServer, fake: FakeOAuth, url: str) -> None:
    assert s.cli("revoke", "acct").returncode == 0


def by_removal(s: PizauthServer, fake: FakeOAuth, url: str) -> None:
    s.write_config(config(fake, "other"))
    assert s.cli("reload").returncode == 0


def by_shutdown(s: PizauthServer, fake: FakeOAuth, url: str) -> None:
    assert s.stop() == 0


@pytest.mark.parametrize("change", [by_token, by_revoke, by_removal, by_shutdown])
def test_a_clicked_notification_the_server_keeps_is_withdrawn_when_the_account_changes(
    desktop: Desktop,
    notifications: FakeNotifications,
    change: Callable[[PizauthServer, FakeOAuth, str], None],
) -> None:
    s = desktop.start("acct")
    url = pending_url(s, "acct")
    (n,) = notifications.wait_sent(1)
    # The action runs and the server keeps the notification on screen.
    notifications.click(n.id, "authorise", keep=True)
    assert wait_until(lambda: desktop.opened() == [url], WAIT), desktop.opened()
    assert notifications.shown == {n.id}

    change(s, desktop.fake, url)
    assert wait_until(lambda: notifications.closed == [n.id], WAIT), notifications.closed
    assert notifications.shown == set()


def test_after_a_click_the_reminder_replaces_the_kept_notification(
    desktop: Desktop, notifications: FakeNotifications
) -> None:
    s = desktop.start("acct", head="auth_notify_interval = 1s;\n")
    pending_url(s, "acct")
    (n,) = notifications.wait_sent(1)
    notifications.click(n.id, keep=True)
    reminder = notifications.wait_sent(2)[1]
    assert (reminder.replaces_id, reminder.id) == (n.id, n.id)
    assert notifications.shown == {n.id}


def test_a_killed_server_leaves_one_live_prompt_after_a_restart(
    desktop: Desktop, notifications: FakeNotifications
) -> None:
    text = desktop.config("acct")
    first = desktop.start_on(text)
    pending_url(first, "acct")
    (old,) = notifications.wait_sent(1)
    # The record is written once Notify's reply (the id) is back, a moment after the call.
    assert wait_until(lambda: len(records(first)) == 1, WAIT), records(first)
    kill(first)

    second = desktop.start_on(text)
    # What the killed server left is withdrawn before anything new is shown.
    assert wait_until(lambda: notifications.closed == [old.id], WAIT), notifications.closed
    url = pending_url(second, "acct")
    new = notifications.wait_sent(2)[1]
    assert notifications.shown == {new.id}
    notifications.click(new.id)
    assert wait_until(lambda: desktop.opened() == [url], WAIT), desktop.opened()

    # A server that stops cleanly withdraws its own and leaves no record behind.
    assert second.stop() == 0
    assert records(second) == []
    assert "Withdrew 1 desktop notification(s) an earlier server left" in second.log()


def test_ids_of_a_service_that_went_are_never_closed_on_its_successor(
    desktop: Desktop, session_bus: PrivateBus, notifications: FakeNotifications
) -> None:
    s = desktop.start("acct")
    url = pending_url(s, "acct")
    (n,) = notifications.wait_sent(1)
    notifications.stop()
    # A new service gives the same id to another application's notification.
    with FakeNotifications(session_bus.address) as successor:
        other = successor.show_foreign()
        assert other == n.id
        # The account's prompt went with the old service: nothing to withdraw on this one.
        assert follow(url).status == 200
        wait_for_token(s, "acct")
        time.sleep(0.5)  # room for a wrong CloseNotification
        assert successor.closed == [] and successor.shown == {other}


def test_a_restarted_server_never_closes_ids_of_a_service_that_went(
    desktop: Desktop, session_bus: PrivateBus, notifications: FakeNotifications
) -> None:
    text = desktop.config("acct")
    first = desktop.start_on(text)
    pending_url(first, "acct")
    (n,) = notifications.wait_sent(1)
    kill(first)
    notifications.stop()
    with FakeNotifications(session_bus.address) as successor:
        other = successor.show_foreign()
        assert other == n.id
        second = desktop.start_on(text)
        pending_url(second, "acct")
        (prompt,) = successor.wait_sent(2)[1:]
        assert prompt.replaces_id == 0
        assert successor.closed == [] and successor.shown == {other, prompt.id}


def test_a_crashing_service_costs_one_warning_and_no_traceback(
    desktop: Desktop, session_bus: PrivateBus, notifications: FakeNotifications
) -> None:
    s = desktop.start("acct", head="auth_notify_interval = 1s;\n")
    url = pending_url(s, "acct")
    notifications.wait_sent(1)
    # The service dies; activation starts one that crashes at once.
    session_bus.add_service(NAME, ["/bin/sh", "-c", "kill -SEGV $$"])
    notifications.stop()
    assert wait_until(lambda: s.log().count(FAILED) == 1, WAIT), s.log()
    reminders = s.log().count("Authorisation needed for")
    assert wait_until(lambda: s.log().count("Authorisation needed for") >= reminders + 2, WAIT)
    log = s.log()
    assert log.count(FAILED) == 1, log
    assert "Traceback" not in log and "Notification failed" not in log, log

    # Carry on: tokens are served, and a working service gets the next prompt at once.
    with FakeNotifications(session_bus.address) as working:
        (n,) = working.wait_sent(1, timeout=WAIT)
        assert n.summary == "Account “acct” needs authorising"
        assert follow(url).status == 200
        wait_for_token(s, "acct")
        assert wait_until(lambda: working.closed == [n.id], WAIT)
    assert "Traceback" not in s.log()


def test_a_service_dying_mid_call_costs_one_warning_and_no_traceback(
    desktop: Desktop, notifications: FakeNotifications
) -> None:
    s = desktop.start("acct", head="auth_notify_interval = 1s;\n")
    notifications.die_on_notify = True
    url = pending_url(s, "acct")
    assert wait_until(lambda: s.log().count(FAILED) == 1, WAIT), s.log()
    time.sleep(2.5)  # reminders fall due meanwhile; sends are paused, so no more warnings
    log = s.log()
    assert log.count(FAILED) == 1 and "Traceback" not in log, log
    assert follow(url).status == 200
    wait_for_token(s, "acct")


def test_a_click_right_behind_the_notify_reply_is_not_lost(
    desktop: Desktop, notifications: FakeNotifications
) -> None:
    # The action signal can arrive in the same read as the reply that tells the client the
    # notification's id; it must still open the browser, every time.
    notifications.click_at_once = "authorise"
    s = desktop.start(*(f"a{i}" for i in range(5)))
    urls = [pending_url(s, f"a{i}") for i in range(5)]
    assert wait_until(lambda: sorted(desktop.opened()) == sorted(urls), WAIT), desktop.opened()
