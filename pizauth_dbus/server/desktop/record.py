"""What a server has on screen, on disk, so that the next server can withdraw what it left.

A server that is killed (SIGKILL, a crash, the OOM killer) cannot withdraw its notifications:
its prompts stay on screen, their buttons lead nowhere, and the next server adds prompts of its
own beside them. So every server keeps, in its runtime directory, the notification service's ids
of what it shows, and the next server on the same bus closes them before it shows anything.

An id is closed only while the service that issued it still runs: each one is stored with that
service's unique bus name, which a bus never gives out twice, and the file is named after the
bus's own id, so neither a restarted service nor another session's bus can make the next server
close someone else's notification. The file holds ids and bus names only: no account names, URLs
or tokens. Losing it costs nothing but the clean-up, so every failure here is logged and ignored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os

from pizauth_dbus.errors import error_text

log = logging.getLogger(__name__)

Shown = list[tuple[str, int]]
"""(the service's unique bus name, the service's id) of each notification on screen."""


class Record:
    """The record for one bus, ``<runtime dir>/notifications-<bus id>``.

    :param runtime_dir: the server's runtime directory (it exists and is private).
    :param bus_id: the session bus's id (``org.freedesktop.DBus.GetId``).
    """

    def __init__(self, runtime_dir: str, bus_id: str) -> None:
        self.path = os.path.join(runtime_dir, f"notifications-{bus_id}")

    def load(self) -> Shown:
        """What an earlier server on this bus recorded; [] when there is nothing (or no sense)."""
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
            return [(str(owner), int(nid)) for owner, nid in data]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, TypeError) as e:
            log.warning(
                "Ignoring the record of earlier notifications in %s: %s", self.path, error_text(e)
            )
            return []

    def save(self, shown: Shown) -> None:
        """Record ``shown``, replacing what was there; an empty list removes the file."""
        try:
            if not shown:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)
                return
            # Written whole, then renamed: a server killed mid-write leaves the old record.
            partial = f"{self.path}.partial"
            with open(partial, "w", encoding="utf-8") as f:
                json.dump(shown, f)
            os.replace(partial, self.path)
        except OSError as e:
            log.warning(
                "Couldn't record the notifications shown in %s: %s", self.path, error_text(e)
            )
