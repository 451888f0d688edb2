"""What passes between pizauth and a notification server, seen from the bus itself.

:class:`NotificationsMonitor` becomes a monitor of the test's private bus (``BecomeMonitor``,
the mechanism ``dbus-monitor`` uses) and records every call to, and every signal from,
``org.freedesktop.Notifications``, with the id each ``Notify`` returned. Nothing is changed on
the way: it watches a real server and a real client, so tests can say what was asked (replace
which id, which hints, which actions) when the screen alone cannot.

:class:`PizauthMonitor` runs the man page's own ``gdbus monitor`` line on ``org.pizauth`` and
collects what it prints, for tests of the signals as a script sees them.
"""

from __future__ import annotations

import queue
import re
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Self

from jeepney import DBusAddress, HeaderFields, MessageType
from jeepney.io.blocking import open_dbus_connection

from harness.dbus_call import call
from harness.procs import wait_until
from harness.server import PizauthServer
from harness.service import Service
from harness.texts import man_examples

INTERFACE = "org.freedesktop.Notifications"
POLL = 0.2
"""Seconds each receive waits, so that :meth:`NotificationsMonitor.stop` is heard soon."""


@dataclass(frozen=True)
class Seen:
    """One call or signal of the notifications interface."""

    kind: str
    """``"call"`` or ``"signal"``."""
    member: str
    sender: str
    body: tuple[Any, ...]
    at: float
    """When it was seen, on ``time.monotonic()``."""
    returned: tuple[Any, ...] | None = None
    """For a call, the body of its reply once it came."""
    error: str | None = None
    """For a call answered with an error, the error's name."""

    @property
    def answered(self) -> bool:
        return self.returned is not None or self.error is not None


class NotificationsMonitor(Service):
    """Records the notifications interface's traffic on the bus at ``address``, from a thread."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._lock = threading.Lock()
        self._seen: list[Seen] = []
        self._calls: dict[tuple[str, int], int] = {}  # (sender, serial) -> index in _seen
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def started(self) -> bool:
        return self._thread is not None

    def start(self) -> Self:
        conn = open_dbus_connection(bus=self.address)
        monitoring = DBusAddress(
            "/org/freedesktop/DBus",
            bus_name="org.freedesktop.DBus",
            interface="org.freedesktop.DBus.Monitoring",
        )
        rules = [f"interface='{INTERFACE}'", "type='method_return'", "type='error'"]
        call(conn, monitoring, "BecomeMonitor", "asu", (rules, 0)).result()
        self._thread = threading.Thread(target=self._watch, args=(conn,), daemon=True)
        self._thread.start()
        return self

    def _watch(self, conn: Any) -> None:
        with conn:
            while not self._stop.is_set():
                try:
                    msg = conn.receive(timeout=POLL)
                except TimeoutError:
                    continue
                except (OSError, EOFError, ConnectionError):
                    return  # the bus has gone
                self._record(msg)

    def _record(self, msg: Any) -> None:
        h = msg.header
        f = h.fields
        with self._lock:
            if h.message_type in (MessageType.method_return, MessageType.error):
                key = (f.get(HeaderFields.destination, ""), f.get(HeaderFields.reply_serial, 0))
                i = self._calls.pop(key, None)
                if i is None:
                    return
                if h.message_type == MessageType.error:
                    reply = replace(self._seen[i], error=f.get(HeaderFields.error_name, "?"))
                else:
                    reply = replace(self._seen[i], returned=msg.body)
                self._seen[i] = reply
                return
            if f.get(HeaderFields.interface) != INTERFACE:
                return
            kind = "call" if h.message_type == MessageType.method_call else "signal"
            sender = f.get(HeaderFields.sender, "")
            self._seen.append(
                Seen(kind, f.get(HeaderFields.member, ""), sender, msg.body, time.monotonic())
            )
            if kind == "call":
                self._calls[(sender, h.serial)] = len(self._seen) - 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(POLL * 10)

    # -- what was seen ------------------------------------------------------------------------

    def seen(self, member: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self._seen if member is None or s.member == member]

    def notifies(self) -> list[Seen]:
        """The ``Notify`` calls that have been answered with an id, in order."""
        return [s for s in self.seen("Notify") if s.returned is not None]

    def done(self, member: str) -> list[Seen]:
        """The signals ``member``, or the calls to ``member`` that have been answered."""
        return [s for s in self.seen(member) if s.kind == "signal" or s.answered]

    def wait(self, member: str, count: int = 1, timeout: float = 10.0) -> list[Seen]:
        """Wait (bounded) until :meth:`done` holds ``count`` of ``member``; returns them."""
        if not wait_until(lambda: len(self.done(member)) >= count, timeout):
            raise AssertionError(f"expected {count} x {member}, saw {self.seen()}")
        return self.done(member)

    def ids_closed(self) -> list[int]:
        """The ids of every ``NotificationClosed`` signal, in order.

        One id may come twice from notification-daemon: once for the ``CloseNotification``,
        once more when the bubble pizauth made expire goes (a transient one reports that too).
        """
        return [int(s.body[0]) for s in self.seen("NotificationClosed")]


class PizauthMonitor:
    """The man page's ``gdbus monitor`` on org.pizauth, its output lines collected by a thread."""

    def __init__(self, server: PizauthServer) -> None:
        (line,) = [e for e in man_examples() if " monitor " in e]
        self.proc = subprocess.Popen(
            shlex.split(line),
            env=server.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        seen = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            seen.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r}; saw {seen}")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=5)
        self._reader.join(timeout=5)  # it sees EOF once the process is gone
        if self.proc.stdout is not None:
            self.proc.stdout.close()
