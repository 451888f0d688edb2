"""Desktop notifications on a real notification server, clicked as a person clicks them.

Debian's notification-daemon runs on an Xvfb display and owns ``org.freedesktop.Notifications``
on the test's private bus; the real pizauth server sends to it over D-Bus; the test clicks with
the pointer (xdotool), finds the button by its label in the pixels, and saves screenshots into
``test-artefacts/``. A bus monitor records what was asked and answered, for what the screen
cannot show (which id a reminder replaced). The sign-in is oidc-provider's own, driven by
``harness/user.py`` on the very URL the click opened.

These tests need Xvfb, xdotool, ImageMagick and notification-daemon (``scripts/setup.sh``
installs them); without them they fail rather than skip.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.browser import ARTEFACTS
from harness.dbus_daemon import PrivateBus
from harness.desktop import WAIT, Desktop, kill, opened, start
from harness.flows import pending_url, wait_for_token
from harness.lifecycle import wait_for
from harness.monitor import NotificationsMonitor, Seen
from harness.notification_daemon import NotificationDaemon
from harness.oidc import OidcProvider
from harness.procs import wait_until
from harness.server import ServerFactory
from harness.texts import HEAD
from harness.user import authorise, follow
from harness.xvfb import Xvfb

SERVER_EXPIRY = 5.0
"""notification-daemon's own expiry for a notification that does not ask to stay (measured)."""


def summarised(monitor: NotificationsMonitor, summary: str) -> Seen | None:
    """The last answered ``Notify`` with ``summary``, if any."""
    found = [n for n in monitor.notifies() if n.body[3] == summary]
    return found[-1] if found else None


@pytest.fixture
def display(tmp_path: Path) -> Iterator[Xvfb]:
    with Xvfb(tmp_path / "xvfb.log") as x:
        yield x


@pytest.fixture
def daemon(
    session_bus: PrivateBus, display: Xvfb, pizauth_env: dict[str, str], tmp_path: Path
) -> Iterator[NotificationDaemon]:
    with NotificationDaemon(
        session_bus, display, pizauth_env, tmp_path / "notification-daemon.log"
    ) as d:
        yield d
        print(f"--- notification-daemon log ---\n{d.log()}")


@pytest.fixture
def monitor(session_bus: PrivateBus) -> Iterator[NotificationsMonitor]:
    with NotificationsMonitor(session_bus.address) as m:
        yield m


def test_prompt_stays_a_click_opens_the_url_and_it_goes_once_signed_in(
    servers: ServerFactory,
    daemon: NotificationDaemon,
    monitor: NotificationsMonitor,
    oidc: OidcProvider,
    browser: Path,
) -> None:
    # The provider's tokens last 60 s: refreshing 10 s before expiry keeps the log quiet.
    head = HEAD + "refresh_before_expiry = 10s;\n"
    s = start(servers, head + oidc.account_config("work"), browser)
    url = pending_url(s, "work")
    (bubble,) = daemon.wait_bubbles(1)
    shown_at = time.monotonic()
    daemon.x.screenshot(ARTEFACTS / "notification-prompt.png", bubble, margin=16)
    (notify,) = monitor.notifies()
    assert notify.returned is not None
    nid = notify.returned[0]

    # Still there after the server's own expiry: a person who looked away has not missed it.
    time.sleep(max(0.0, shown_at + SERVER_EXPIRY + 1.5 - time.monotonic()))
    assert [b.id for b in daemon.bubbles()] == [bubble.id]

    # The Authorise button opens exactly the URL pizauth show printed.
    daemon.click_button(bubble)
    (action,) = monitor.wait("ActionInvoked")
    assert action.body == (nid, "authorise")
    assert wait_until(lambda: opened(browser) == [url], WAIT), opened(browser)
    # The server keeps it (resident): the person can click again until signed in.
    assert [b.id for b in daemon.bubbles()] == [bubble.id]

    # They sign in on that page; the token arrives and the notification goes.
    page = authorise(opened(browser)[0])
    assert page.status == 200, page.body
    wait_for_token(s, "work")
    daemon.wait_bubbles(0)
    (close,) = monitor.wait("CloseNotification")
    assert close.body == (nid,)
    # The bubble can leave the screen a moment before the daemon's NotificationClosed is seen.
    wait_for(lambda: set(monitor.ids_closed()) == {nid}, "NotificationClosed for the prompt")
    assert "Traceback" not in s.log() and "WARNING" not in s.log()


def test_a_click_on_the_body_opens_the_url(
    desktop: Desktop, daemon: NotificationDaemon, monitor: NotificationsMonitor
) -> None:
    s = desktop.start("personal")
    url = pending_url(s, "personal")
    (bubble,) = daemon.wait_bubbles(1)
    daemon.click_body(bubble)
    (action,) = monitor.wait("ActionInvoked")
    assert action.body[1] == "default"
    assert wait_until(lambda: desktop.opened() == [url], WAIT), desktop.opened()
    assert follow(url).status == 200
    wait_for_token(s, "personal")
    assert wait_until(lambda: len(monitor.seen("CloseNotification")) == 1, WAIT)


def test_reminders_replace_the_prompt_on_screen_rather_than_stack(
    desktop: Desktop, daemon: NotificationDaemon, monitor: NotificationsMonitor
) -> None:
    s = desktop.start("acct", head="auth_notify_interval = 1s;\n")
    pending_url(s, "acct")
    monitor.wait("Notify", 3)
    first, *reminders = monitor.notifies()
    assert first.body[1] == 0 and first.returned is not None
    nid = first.returned[0]
    for reminder in reminders:
        assert reminder.body[1] == nid  # replaces_id
        assert reminder.returned == (nid,)
    (bubble,) = daemon.wait_bubbles(1)
    daemon.x.screenshot(ARTEFACTS / "notification-reminded.png", bubble, margin=16)
    assert monitor.ids_closed() == []

    assert s.cli("revoke", "acct").returncode == 0
    daemon.wait_bubbles(0)
    # The bubble can leave the screen a moment before the daemon's NotificationClosed is seen.
    wait_for(lambda: set(monitor.ids_closed()) == {nid}, "NotificationClosed for the prompt")


def test_a_failed_sign_in_replaces_the_prompt_with_an_error(
    desktop: Desktop, daemon: NotificationDaemon, monitor: NotificationsMonitor
) -> None:
    s = desktop.start("personal")
    url = pending_url(s, "personal")
    daemon.wait_bubbles(1)
    desktop.fake.auth_error = "access_denied"
    assert follow(url).status == 400
    # The prompt goes, the error comes: the one notification on screen.
    error = wait_for(lambda: summarised(monitor, "Couldn't authorise “personal”"), "the error")
    assert error.body[5] == []  # no actions: nothing that would do nothing
    assert error.body[1] == 0  # a notification of its own, not the prompt's
    assert wait_until(lambda: len(set(monitor.ids_closed())) == 1, WAIT)
    (bubble,) = daemon.wait_bubbles(1)
    daemon.x.screenshot(ARTEFACTS / "notification-error.png", bubble, margin=16)


def test_a_killed_server_leaves_no_second_prompt_after_a_restart(
    desktop: Desktop, daemon: NotificationDaemon
) -> None:
    text = desktop.config("acct")
    first = desktop.start_on(text)
    pending_url(first, "acct")
    daemon.wait_bubbles(1)
    kill(first)
    # Nobody is left to withdraw it; the next server does, before it shows its own.
    second = desktop.start_on(text)
    url = pending_url(second, "acct")
    (bubble,) = daemon.wait_bubbles(1)
    time.sleep(0.5)  # room for a late second prompt, were there one
    assert [b.id for b in daemon.bubbles()] == [bubble.id]
    daemon.click_button(bubble)
    assert wait_until(lambda: desktop.opened() == [url], WAIT), desktop.opened()
