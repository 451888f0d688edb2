"""Process and timing helpers shared by the support modules.

Each child process started by the support modules runs in its own process group, so that stopping
it also reaches whatever it started (services activated by a dbus-daemon, hooks run by the pizauth
server). Children still alive when the test process exits are killed by an ``atexit`` hook, a last
line of defence should a fixture's teardown never run.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

POLL_INTERVAL = 0.05
"""Seconds between two checks of a condition being waited for: short next to every timeout."""
WAIT = 15.0
"""Default seconds for :func:`wait_for`: what a server does in the background takes far less."""
T = TypeVar("T")

TERM_WAIT = 5.0
"""Seconds a process gets to exit after SIGTERM before it is killed."""

_LIVE_GROUPS: set[int] = set()
"""Process groups started by the support modules and not yet known to be gone."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on at the moment of the call.

    The port is released before returning, so another process could take it first; callers that
    cannot tolerate that race retry.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(
    condition: Callable[[], T | None],
    timeout: float,
    *,
    interval: float = POLL_INTERVAL,
    abort: Callable[[], bool] | None = None,
) -> T | None:
    """Poll ``condition`` until it returns something true or ``timeout`` seconds have passed.

    The one polling loop of the harness: every other wait is built on it.

    :param abort: checked before each poll; when it returns True, stop waiting at once.
    :returns: what ``condition`` last returned when true, else None.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if (abort is not None and abort()) or time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def wait_for(
    condition: Callable[[], T | None],
    what: str,
    timeout: float = WAIT,
    *,
    abort: Callable[[], bool] | None = None,
) -> T:
    """:func:`wait_until`, failing the test when the time runs out.

    :raises AssertionError: naming ``what``.
    """
    value = wait_until(condition, timeout, abort=abort)
    if not value:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")
    return value


def popen_in_group(
    argv: list[str],
    *,
    env: dict[str, str],
    log_path: Path,
    cwd: Path | None = None,
    pass_fds: tuple[int, ...] = (),
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session (hence its own process group), stdout and stderr appended
    to ``log_path``, stdin from /dev/null; remember the group for the ``atexit`` clean-up."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=pass_fds,
        )
    _LIVE_GROUPS.add(proc.pid)
    return proc


def popen_ready(
    argv: Callable[[int], list[str]],
    *,
    what: str,
    env: dict[str, str],
    log_path: Path,
    timeout: float,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start a program that says it is ready by writing a line to a file descriptor it is
    given (dbus-daemon's ``--print-address=FD``, Xvfb's ``-displayfd FD``), as
    :func:`popen_in_group` does, and wait (bounded) for that line.

    :param argv: the command line, given the number of the descriptor to write to.
    :param what: what the program says, for the error messages ("dbus-daemon's address").
    :returns: the process and the line it wrote, stripped.
    :raises RuntimeError: when it exits or stays silent; the message holds its output. The
        process is stopped then.
    """
    read_fd, write_fd = os.pipe()
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = popen_in_group(argv(write_fd), env=env, log_path=log_path, pass_fds=(write_fd,))
        os.close(write_fd)
        write_fd = -1
        return proc, _read_line(read_fd, what, log_path, timeout)
    except BaseException:
        if write_fd >= 0:
            os.close(write_fd)
        if proc is not None:
            stop_group(proc)
        raise
    finally:
        os.close(read_fd)


def _read_line(fd: int, what: str, log_path: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError(f"no {what} within {timeout} s:\n{read_text(log_path)}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:  # the program closed its end, most likely by exiting
            raise RuntimeError(f"exited before telling its {what}:\n{read_text(log_path)}")
        data += chunk
    return data.split(b"\n", 1)[0].decode().strip()


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes in process group ``pgid``, read from /proc.

    Zombies are left out: an orphan reparented to an init that is slow to reap it is already dead.
    """
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name: state, ppid, pgrp, ...
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 3 and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def group_alive(pgid: int) -> bool:
    """Whether any live process is left in process group ``pgid``."""
    return bool(group_members(pgid))


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def stop_group(proc: subprocess.Popen[bytes], *, term_wait: float = TERM_WAIT) -> int | None:
    """Stop ``proc`` (started by :func:`popen_in_group`) and everything left in its group.

    SIGTERM to the whole group, a bounded wait for the leader and the rest, then SIGKILL to
    whatever remains.

    :returns: the leader's exit status (negative for a signal), or None if it could not be reaped.
    """
    pgid = proc.pid
    if proc.poll() is None or group_alive(pgid):
        _signal_group(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=term_wait)
        wait_until(lambda: not group_alive(pgid), term_wait / 2)
        if proc.poll() is None or group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=TERM_WAIT)
    # Members other than the leader are not our children; they are reaped by init once killed.
    wait_until(lambda: not group_alive(pgid), TERM_WAIT)
    _LIVE_GROUPS.discard(pgid)
    return proc.returncode


def forget_group(pgid: int) -> None:
    """Stop tracking ``pgid`` for the ``atexit`` clean-up (it is known to be gone)."""
    _LIVE_GROUPS.discard(pgid)


@atexit.register
def _kill_leftovers() -> None:
    for pgid in list(_LIVE_GROUPS):
        _signal_group(pgid, signal.SIGKILL)
    _LIVE_GROUPS.clear()


def read_text(path: Path) -> str:
    """A log file's text so far ('' if it does not exist yet); undecodable bytes replaced."""
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
