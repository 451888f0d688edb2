"""Who is calling: whether a bus caller runs inside a sandbox (a Flatpak or a Snap), and the
gate that answers a sandboxed caller's method calls with ``org.pizauth.Error.AccessDenied``
unless ``allowed_apps`` lists its app.

The sandbox, not the caller, vouches for the answer: a Flatpak app cannot remove the
``/.flatpak-info`` its sandbox mounts read-only, nor leave its ``app-flatpak-*`` cgroup scope,
and a Snap cannot change its ``snap.*`` AppArmor label. Processes of the user outside any
sandbox are served exactly as upstream serves them: pizauth(1) SECURITY says why nothing finer
is attempted.

Each caller is examined once per unique bus name (the bus never reuses one), from the bus's own
credentials for it, before the first of its calls runs; its later calls cost a dict lookup.
"""

from __future__ import annotations

import configparser
import logging
import os
import re
import signal
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from dbus_fast import Message, MessageFlag, MessageType
from dbus_fast.aio import MessageBus

from pizauth_dbus import OBJECT_PATH
from pizauth_dbus.errors import AccessDeniedError
from pizauth_dbus.server import buscall
from pizauth_dbus.server.tasks import Tasks

log = logging.getLogger(__name__)

FLATPAK, SNAP, UNCHECKED = "Flatpak", "Snap", "unchecked"
NEVER_FOR_SANDBOXES = frozenset({"Dump", "Restore"})
"""Methods no sandboxed app may call, listed or not: every refresh token leaves, or every
account's tokens are replaced, in one call."""
KNOWN_CALLERS = 4096
"""Callers remembered at once. Unique names are never reused, so an old entry is only memory;
this many covers every connection a session keeps open, and a forgotten one is examined again."""
INFO_MAX = 64 * 1024
"""Bytes read of a ``/.flatpak-info`` or a cgroup file: both are a few hundred."""

_FLATPAK_SCOPE = re.compile(r"/app-flatpak-([A-Za-z0-9_.-]+?)-\d+\.scope(?:/|$)", re.M)
_SNAP_SCOPE = re.compile(r"/snap\.([a-z0-9][a-z0-9-]*)\.[^/\n]*\.scope(?:/|$)", re.M)


@dataclass(frozen=True, slots=True)
class Caller:
    """What one bus connection is.

    ``sandbox`` is None for a process of the user outside any sandbox; else :data:`FLATPAK` or
    :data:`SNAP` with its ``app`` id (empty when it could not be read), or :data:`UNCHECKED`
    for one whose process could not be examined. ``evidence`` says what decided, for the log.
    """

    sandbox: str | None
    app: str
    evidence: str


def identify(
    pid: int | None, label: bytes = b"", pidfd: int | None = None, proc: str = "/proc"
) -> Caller:
    """What the process ``pid`` (the bus's ``ProcessID`` for a connection) is.

    :param label: the bus's ``LinuxSecurityLabel`` for the connection (taken from the socket,
        so it holds even for a process that has exited).
    :param pidfd: the bus's ``ProcessFD``, when it gives one: with it, a pid that was reused by
        another process after the caller exited is noticed (the caller is then UNCHECKED).
    """
    snap = _snap_from_label(label.rstrip(b"\0").decode("utf-8", "replace"))
    if snap is not None:
        return Caller(SNAP, snap, "the security label the bus gives")
    if pid is None:
        # Nothing to examine and nothing that says "sandbox": a bus that cannot name a
        # caller's process cannot carry Flatpak's bus proxy either.
        return Caller(None, "", "the bus gives no process id")
    try:
        dirfd = os.open(f"{proc}/{pid}", os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        return Caller(UNCHECKED, "", f"process {pid} cannot be examined: {e.strerror}")
    try:
        # The directory stays bound to the process it was opened for; if the pidfd's process
        # is still alive now, that is the same one, not a later owner of its pid.
        if pidfd is not None and not _alive(pidfd):
            return Caller(UNCHECKED, "", f"process {pid} has exited")
        return _examine(dirfd, pid)
    finally:
        os.close(dirfd)


def _examine(dirfd: int, pid: int) -> Caller:
    # A process can exit and leave its connection to a child (its pid is then a zombie's, or
    # gone, or another process's), or make its root unreadable on purpose (by making itself
    # non-dumpable); a caller waiting for its answer does neither, so not being able to look
    # is a reason to refuse, not to serve.
    try:
        # The state follows the command's name, which may itself hold ")".
        state = _read(dirfd, "stat").rpartition(")")[2].split()[:1]
        if state in ([], ["Z"], ["X"], ["x"]):  # a zombie still has its cgroup, not its root
            return Caller(UNCHECKED, "", f"process {pid} has exited")
        os.stat("root", dir_fd=dirfd)
    except OSError as e:
        return Caller(UNCHECKED, "", f"process {pid} cannot be examined: {e.strerror}")
    try:
        info = _read(dirfd, "root/.flatpak-info")
    except FileNotFoundError:
        info = None
    except OSError as e:
        return Caller(UNCHECKED, "", f"the root of process {pid} cannot be read: {e.strerror}")
    if info is not None:
        return Caller(FLATPAK, _flatpak_app(info), "its /.flatpak-info")
    try:
        cgroup = _read(dirfd, "cgroup")
    except OSError as e:
        return Caller(UNCHECKED, "", f"the cgroup of process {pid} cannot be read: {e.strerror}")
    if m := _FLATPAK_SCOPE.search(cgroup):
        return Caller(FLATPAK, m[1], "its app-flatpak cgroup scope")
    if m := _SNAP_SCOPE.search(cgroup):
        return Caller(SNAP, m[1], "its snap cgroup scope")
    for attr in ("attr/apparmor/current", "attr/current"):
        try:
            snap = _snap_from_label(_read(dirfd, attr))
        except OSError:  # no AppArmor (or no LSM at all): nothing to learn here
            continue
        if snap is not None:
            return Caller(SNAP, snap, "its AppArmor label")
        break
    return Caller(None, "", "no sign of a sandbox")


def _read(dirfd: int, name: str) -> str:
    fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW, dir_fd=dirfd)
    try:
        return os.read(fd, INFO_MAX).decode("utf-8", "replace")
    finally:
        os.close(fd)


def _alive(pidfd: int) -> bool:
    try:
        signal.pidfd_send_signal(pidfd, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, merely not ours to signal
        return True
    return True


def _flatpak_app(text: str) -> str:
    """The app id in a ``/.flatpak-info`` (a runtime's name for ``flatpak run --runtime``)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return ""
    for section in ("Application", "Runtime"):
        if name := parser.get(section, "name", fallback="").strip():
            return name
    return ""


def _snap_from_label(label: str) -> str | None:
    """The snap's name in an AppArmor label such as ``snap.thunderbird.thunderbird (enforce)``."""
    parts = label.strip().split(" ", 1)[0].split(".")
    return parts[1] if len(parts) >= 3 and parts[0] == "snap" and parts[1] else None


def refusal(caller: Caller, member: str | None, allowed: tuple[str, ...]) -> str | None:
    """Why ``caller`` may not call ``member``, or None when it may."""
    if caller.sandbox is None:
        return None
    if caller.sandbox == UNCHECKED:
        return (
            f"Access denied: the calling process could not be checked ({caller.evidence}), "
            "so it is refused as an app in a sandbox would be"
        )
    if not caller.app:
        return (
            f"Access denied: a {caller.sandbox} app whose id could not be read may not use "
            "pizauth (allowed_apps names apps by their id)"
        )
    app = f"the {caller.sandbox} app {caller.app}"
    if member in NEVER_FOR_SANDBOXES:
        return f"Access denied: {app} runs in a sandbox, and no sandboxed app may use {member}"
    if caller.app in allowed:
        return None
    return (
        f"Access denied: {app} runs in a sandbox; to let it ask pizauth for tokens, add "
        f'allowed_apps = ["{caller.app}"]; to pizauth.conf and run pizauth reload'
    )


class Gate:
    """The bus message handler (installed before every other) that decides, before any method
    of ``/org/pizauth`` runs, whether its caller may call it.

    Introspection, ``org.freedesktop.DBus.Peer`` and the read-only properties pass for every
    caller. A caller's first call is held while it is examined (one call to the bus daemon, a
    few reads in ``/proc``) and then dispatched as if it had just arrived, so the method runs
    only once the answer is known; later calls are decided from the cache.

    :param allowed: the ``allowed_apps`` of the config in force (read at each call, so a reload
        applies at once).
    """

    def __init__(
        self,
        bus: MessageBus,
        allowed: Callable[[], tuple[str, ...]],
        identify: Callable[[int | None, bytes], Caller] = identify,
    ) -> None:
        self._bus = bus
        self._allowed = allowed
        self._identify = identify
        self._known: OrderedDict[str, Caller] = OrderedDict()
        self._held: dict[str, list[Message]] = {}
        self._tasks = Tasks()

    def handle(self, msg: Message) -> Message | bool | None:
        """None to let the call through, True to hold (or drop) it, or the error reply."""
        if (
            msg.message_type is not MessageType.METHOD_CALL
            or msg.path != OBJECT_PATH
            or (msg.interface or "").startswith("org.freedesktop.DBus.")
            or not msg.sender
        ):
            return None
        caller = self._known.get(msg.sender)
        if caller is None:
            held = self._held.get(msg.sender)
            if held is None:
                self._held[msg.sender] = [msg]
                self._tasks.spawn(self._examine(msg.sender), name=f"examine {msg.sender}")
            else:
                held.append(msg)
            return True
        why = refusal(caller, msg.member, self._allowed())
        if why is None:
            return None
        log.info("Refused %s to %s (%s)", msg.member, msg.sender, caller.evidence)
        if msg.flags & MessageFlag.NO_REPLY_EXPECTED:
            return True
        return Message.new_error(msg, AccessDeniedError.dbus_name, why)

    async def _examine(self, sender: str) -> None:
        try:
            caller = await self._lookup(sender)
        except Exception as e:  # never leave the held calls unanswered
            log.error("Examining the caller %s failed: %s: %s", sender, type(e).__name__, e)
            caller = Caller(UNCHECKED, "", "its examination failed")
        self._known[sender] = caller
        if len(self._known) > KNOWN_CALLERS:
            self._known.popitem(last=False)
        if caller.sandbox is not None:
            log.info(
                "Caller %s: %s %s, from %s",
                sender,
                caller.sandbox,
                caller.app or "-",
                caller.evidence,
            )
        for msg in self._held.pop(sender, []):
            # Dispatched again from the top: this gate now answers from the cache, and the
            # call then goes where it would have gone at once (dbus-fast's own dispatch).
            self._bus._process_message(msg)

    async def _lookup(self, sender: str) -> Caller:
        try:
            (credentials,) = await buscall.call(
                self._bus, buscall.DAEMON, "GetConnectionCredentials", "s", [sender]
            )
        except buscall.BusCallError as e:
            if e.gone:
                return Caller(UNCHECKED, "", "it has left the bus")
            log.warning("The bus does not say who %s is (%s)", sender, e.text)
            return Caller(None, "", f"the bus gives no credentials: {e.text}")
        pid = credentials.get("ProcessID")
        label = credentials.get("LinuxSecurityLabel")
        # The server's connection does not take file descriptors, so the bus sends no
        # ProcessFD (Debian 12's dbus-daemon has none to send): see identify's pidfd.
        return self._identify(
            None if pid is None else int(pid.value),
            b"" if label is None else bytes(label.value),
        )

    async def stop(self) -> None:
        await self._tasks.stop()
