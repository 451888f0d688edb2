"""``pizauth``: argument handling, output and exit codes, exactly as upstream pizauth's.

Every command but ``server`` is a short-lived D-Bus client (:mod:`pizauth_dbus.client`). This
module must stay light: ``pizauth show`` runs on every mail check, so server-side modules
(asyncio, dbus-fast, aiohttp, pyparsing, cryptography) are imported only inside ``server``.
Exit codes: 0 on success, 1 on every failure, as upstream.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from pizauth_dbus import __version__
from pizauth_dbus.errors import ERROR_PREFIX, PENDING_PREFIX

USAGE = """\
Usage:
  {pn} dump
  {pn} info [-j]
  {pn} refresh [-u] <account>
  {pn} restore
  {pn} reload
  {pn} revoke <account>
  {pn} server [-c <config-path>] [-dv]
  {pn} show [-u] <account>
  {pn} shutdown
  {pn} status
"""

# Subcommand -> (flags without a value, flags with an optional value, positional arguments).
_COMMANDS: dict[str, tuple[str, str, int]] = {
    "dump": ("", "", 0),
    "info": ("j", "c", 0),
    "refresh": ("u", "", 1),
    "restore": ("", "", 0),
    "reload": ("", "", 0),
    "revoke": ("", "", 1),
    "server": ("d", "c", 0),
    "show": ("u", "", 1),
    "shutdown": ("", "", 0),
    "status": ("", "", 0),
}
INFO_FORMAT_VERSION = 2


class UsageError(Exception):
    """The command line does not fit the usage text."""


class Args:
    """A parsed command line. (A plain class: ``dataclasses`` costs ``show`` milliseconds.)"""

    def __init__(self, command: str) -> None:
        self.command = command
        self.flags: set[str] = set()
        self.config: str | None = None
        self.verbose = 0
        self.free: list[str] = []


def parse_args(argv: list[str]) -> Args:
    """Parse as getopts does: combined short flags, options anywhere, ``-c`` with optional value.

    :raises UsageError: for anything the usage text does not allow (``-h`` included).
    """
    if len(argv) < 2 or argv[1] not in _COMMANDS:
        raise UsageError()
    plain, optional, npos = _COMMANDS[argv[1]]
    args = Args(argv[1])
    rest = argv[2:]
    i = 0
    while i < len(rest):
        arg = rest[i]
        i += 1
        if arg == "--":
            args.free.extend(rest[i:])
            break
        if arg == "--verbose":
            args.verbose += 1
        elif arg.startswith("--") or arg in ("-h",):
            raise UsageError()  # --help and every other long option
        elif arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                ch = arg[j]
                j += 1
                if ch == "v":
                    args.verbose += 1
                elif ch in plain:
                    args.flags.add(ch)
                elif ch in optional:
                    args.flags.add(ch)
                    if j < len(arg):  # -cPATH
                        args.config = arg[j:]
                    elif i < len(rest) and not (rest[i].startswith("-") and len(rest[i]) > 1):
                        args.config = rest[i]
                        i += 1
                    break
                else:
                    raise UsageError()
        else:
            args.free.append(arg)
    if len(args.free) != npos:
        raise UsageError()
    return args


def _program_name(argv0: str) -> str:
    name = os.path.basename(argv0)
    return "pizauth" if name in ("__main__.py", "") else name


def _error(msg: str) -> int:
    sys.stderr.write(f"ERROR - {msg}\n")
    return 1


def main(argv: list[str] | None = None) -> int:
    """Run the ``pizauth`` command line and return its exit code."""
    argv = list(sys.argv if argv is None else argv)
    pn = _program_name(argv[0] if argv else "pizauth")
    try:
        args = parse_args(argv)
    except UsageError:
        sys.stderr.write(USAGE.format(pn=pn))
        return 1
    try:
        return _COMMAND_FUNCS[args.command](args, pn)
    except KeyboardInterrupt:
        return 1


def _show(args: Args, pn: str) -> int:
    from pizauth_dbus.client import CallError, call

    try:
        (token,) = call("Show", "s", args.free[0])
    except CallError as e:
        return _call_failed(e, "u" in args.flags)
    sys.stdout.write(token + "\n")
    return 0


def _call_failed(e: Exception, hide_url: bool = False) -> int:
    from pizauth_dbus.client import CallError

    assert isinstance(e, CallError)
    if e.name == ERROR_PREFIX + "AuthorisationPending" and hide_url:
        return _error(PENDING_PREFIX)
    _error(str(e))
    if e.spawn_failed:
        _explain_failed_activation()
    return 1


def _explain_failed_activation() -> None:
    """Say why D-Bus activation failed, when the reason is the config (the usual one).

    Upstream has no activation, so its line above stays as it is; this only adds after it. The
    config is parsed here, on this failure path only, so ``show`` stays light otherwise.
    """
    from pizauth_dbus.errors import ConfigError
    from pizauth_dbus.paths import config_path

    try:
        from pizauth_dbus.config import load

        load(config_path(None))
    except ConfigError as err:
        sys.stderr.write(f"The session bus could not start the server: {err}\n")
        return
    sys.stderr.write(
        "The session bus started the server but it exited at once; the bus's log "
        "(journalctl --user on systemd) says why.\n"
    )


def _simple(
    method: str, signature: str | None = None, auto_start: bool = True
) -> Callable[[Args, str], int]:
    def run(args: Args, pn: str) -> int:
        from pizauth_dbus.client import CallError, call

        try:
            call(method, signature, *args.free, auto_start=auto_start)
        except CallError as e:
            return _call_failed(e, "u" in args.flags)
        return 0

    return run


def _dump(args: Args, pn: str) -> int:
    from pizauth_dbus.client import CallError, call

    try:
        (data,) = call("Dump")
    except CallError as e:
        return _call_failed(e)
    sys.stdout.buffer.write(bytes(data))
    sys.stdout.buffer.flush()
    return 0


def _restore(args: Args, pn: str) -> int:
    from pizauth_dbus.client import CallError, call

    data = sys.stdin.buffer.read()  # all of it before contacting the server, as upstream
    try:
        call("Restore", "ay", data)
    except CallError as e:
        return _call_failed(e)
    return 0


def _status(args: Args, pn: str) -> int:
    from pizauth_dbus.client import CallError, call
    from pizauth_dbus.status import format_status

    try:
        (rows,) = call("Status")
    except CallError as e:
        return _call_failed(e)
    sys.stdout.write(format_status(rows) + "\n")
    return 0


def _info(args: Args, pn: str) -> int:
    from pizauth_dbus.status import info

    return info(args, pn, __version__, INFO_FORMAT_VERSION)


def _server(args: Args, pn: str) -> int:
    from pizauth_dbus.errors import ConfigError
    from pizauth_dbus.paths import config_path, ensure_runtime_dir

    try:
        ensure_runtime_dir()
    except ConfigError as e:
        sys.stderr.write(f"{e}\n")
        return 1
    try:
        path = config_path(args.config)
        from pizauth_dbus.config import load

        config = load(path)
    except ConfigError as e:
        sys.stderr.write(f"{e}\n")
        return 1
    from pizauth_dbus.client import server_running

    if server_running():
        sys.stderr.write("pizauth authenticator already running\n")
        return 1
    from pizauth_dbus.server import run

    return run(config, os.path.abspath(path), "d" in args.flags, args.verbose)


_COMMAND_FUNCS = {
    "dump": _dump,
    "info": _info,
    "refresh": _simple("Refresh", "s"),
    "restore": _restore,
    "reload": _simple("Reload"),
    "revoke": _simple("Revoke", "s"),
    "server": _server,
    "show": _show,
    "shutdown": _simple("Shutdown", auto_start=False),
    "status": _status,
}
