"""A real notification server for tests: Debian's notification-daemon on an Xvfb display.

notification-daemon is GNOME's stand-alone GTK server of ``org.freedesktop.Notifications`` (the
one desktop-notifier's own CI runs). Here it owns the name on the test's private bus and draws
each notification as a window titled "Notification" at the top right of the display, with its
action buttons at the bottom right; a click on the rest of the window invokes the default action.
Nothing is faked: pizauth talks to it over D-Bus as it would on a desktop, and the test clicks
with the pointer (:class:`~harness.xvfb.Xvfb`).

How it behaves, measured (Debian 12's 3.20): a notification without ``expire_timeout`` 0
vanishes after 5 s; with the ``resident`` hint, a click on a button runs the action and keeps
the notification on screen; ``CloseNotification`` removes a notification from its list but
leaves it on screen while it is shown; and it shows one notification at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from harness.dbus_daemon import PrivateBus
from harness.procs import popen_in_group, read_text, wait_until
from harness.service import GroupService
from harness.xvfb import Box, Window, Xvfb, dark_lines

DAEMON = "/usr/lib/notification-daemon/notification-daemon"
NAME = "org.freedesktop.Notifications"

START_TIMEOUT = 15.0
"""Seconds the daemon gets to own its name (about half a second, more on a loaded machine)."""

TITLE = "^Notification$"
"""The title of each notification's window."""

EDGE = 12
"""Pixels along the window's edges left out when looking for text: its rounded border."""


class NotificationDaemon(GroupService):
    """notification-daemon on ``display``, owning ``org.freedesktop.Notifications`` on ``bus``;
    a context manager that stops it.

    :param env: the environment to start it with (DISPLAY and the bus address are added).
    """

    def __init__(self, bus: PrivateBus, display: Xvfb, env: dict[str, str], log_path: Path) -> None:
        self.bus = bus
        self.x = display
        self.env = {
            **env,
            "DISPLAY": display.display,
            "DBUS_SESSION_BUS_ADDRESS": bus.address,
            # No accessibility bus on the test bus; GSettings kept in memory, not in $HOME.
            "NO_AT_BRIDGE": "1",
            "GSETTINGS_BACKEND": "memory",
        }
        self.log_path = log_path

    def start(self) -> Self:
        """Start the daemon; returns once it owns its name (bounded).

        :raises RuntimeError: when it exits first or takes too long; the message holds its log.
        """
        self._proc = popen_in_group([DAEMON], env=self.env, log_path=self.log_path)
        proc = self._proc
        if not wait_until(
            lambda: self.bus.name_owner_pid(NAME) == proc.pid,
            START_TIMEOUT,
            abort=lambda: proc.poll() is not None,
        ):
            status = proc.poll()
            self.stop()
            raise RuntimeError(
                f"notification-daemon (status {status}) did not own {NAME} within "
                f"{START_TIMEOUT} s:\n{read_text(self.log_path)}"
            )
        return self

    def log(self) -> str:
        return read_text(self.log_path)

    # -- what is on screen --------------------------------------------------------------------

    def bubbles(self) -> list[Window]:
        """The notifications on screen now, as windows."""
        return self.x.windows(TITLE)

    def wait_bubbles(self, count: int, timeout: float = 10.0) -> list[Window]:
        """Wait (bounded) until exactly ``count`` notifications are on screen and have stopped
        moving and resizing (a new one grows as its text is laid out); returns them."""
        found: list[Window] = []

        def settled() -> bool:
            nonlocal found
            before, found = found, self.bubbles()
            return len(found) == count and found == before

        if not wait_until(settled, timeout, interval=0.2):
            raise AssertionError(f"expected {count} notifications on screen, saw {found}")
        return found

    def button(self, bubble: Window) -> Box:
        """Where the bottom-right button's label is, in the window's coordinates.

        Found in the pixels, not assumed: the label is the lowest line of text in the right
        half of the window (the body's lines are above it; the close button is at the top).
        """
        rows = self.x.grey(bubble)
        lines = dark_lines(rows, bubble.width // 2, bubble.width - EDGE, EDGE, bubble.height - EDGE)
        if not lines:
            raise AssertionError(f"no text in the notification {bubble}")
        return lines[-1]

    def click_button(self, bubble: Window) -> None:
        """Click the bottom-right button (pizauth's "Authorise")."""
        x, y = self.button(bubble).centre
        self.x.click(bubble.x + x, bubble.y + y)

    def click_body(self, bubble: Window) -> None:
        """Click the body, away from the icon, the close button and the buttons."""
        top = self.button(bubble).top
        self.x.click(bubble.x + bubble.width // 2, bubble.y + top // 2)
