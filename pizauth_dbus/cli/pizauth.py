"""``pizauth``: argument handling, output and exit codes, exactly as upstream pizauth's.

Every command but ``server`` is a short-lived D-Bus client (:mod:`pizauth_dbus.cli.client`). This
module must stay light: ``pizauth show`` runs on every mail check, so server-side modules
(asyncio, dbus-fast, aiohttp, pyparsing, cryptography) are imported only inside ``server``.
Exit codes: 0 on success, 1 on every failure, as upstream.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from pizauth_dbus import __version__
from pizauth_dbus.errors import ERROR_PREFIX, PENDING_PREFIX

USAGE = """\
Usage:
  {pn} complete <account> [<url>]
  {pn} dump
  {pn} info [-j]
  {pn} refresh [-u] <account>
  {pn} restore
  {pn} reload
  {pn} revoke <account>
  {pn} server [-c <config-path>] [-dv]
  {pn} show [-u] [-w <seconds>] <account>
  {pn} shutdown
  {pn} status
"""

# Per subcommand: its own one-letter options (getopts' short names; none has a long name but
# ``-c``'s ``--config``) that take no value, the ones whose value is optional, and how many
# positional arguments it wants. Every subcommand also has -h/--help and -v/--verbose.
_COMMANDS: dict[str, tuple[str, str, int]] = {
    "complete": ("", "", 1),
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
_OPTIONAL_ARGUMENT = {"complete"}
"""Commands whose last positional argument may be left out (``complete``'s URL: then read from
standard input)."""
_VALUED = {"show": "w"}
"""Options that must have a value (pizauth-dbus additions): ``-w 30``, ``-w30``, ``--w=30``."""
_LONG_NAMES = {"help": "h", "verbose": "v", "config": "c"}
"""The long spellings upstream declares; a one-letter long form (``--u``) names its short flag."""
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
        self.values: dict[str, str] = {}


def _is_option(arg: str) -> bool:
    # As getopts: "-" alone is an ordinary argument (it often means stdin).
    return len(arg) > 1 and arg.startswith("-")


def parse_args(argv: list[str]) -> Args:
    """Parse exactly as upstream's getopts does.

    Short flags combine (``-dv``); options may follow arguments; ``--`` ends them; ``-c`` takes
    an optional value (``-cPATH``, ``-c PATH`` unless PATH looks like an option,
    ``--config=PATH``; ``--config PATH`` leaves PATH as an argument); a one-letter long form
    (``--d``, ``--c=PATH``) is its short flag; every flag but ``-v`` may be given once.

    :raises UsageError: for anything the usage text does not allow (``-h`` included).
    """
    if len(argv) < 2 or argv[1] not in _COMMANDS:
        raise UsageError()
    plain, optional, npos = _COMMANDS[argv[1]]
    valued = _VALUED.get(argv[1], "")
    known = plain + optional + valued + "hv"
    args = Args(argv[1])
    seen: list[str] = []
    rest = argv[2:]
    try:
        for arg in rest:
            arg.encode()
    except UnicodeEncodeError:  # getopts refuses arguments that are not UTF-8
        raise UsageError() from None
    i = 0
    while i < len(rest):
        arg = rest[i]
        i += 1
        if not _is_option(arg):
            args.free.append(arg)
        elif arg == "--":
            args.free.extend(rest[i:])
            break
        elif arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            flag = name if len(name) == 1 else _LONG_NAMES.get(name, "")
            if not flag or flag not in known:
                raise UsageError()
            if flag in optional:
                args.config = value if eq else None
            elif flag in valued:
                if not eq:
                    if i >= len(rest):
                        raise UsageError()
                    value, i = rest[i], i + 1
                args.values[flag] = value
            elif eq:
                raise UsageError()  # a flag that takes no value was given one
            seen.append(flag)
        else:
            for j, flag in enumerate(arg[1:], 2):
                if flag not in known:
                    raise UsageError()
                seen.append(flag)
                if flag in valued:  # -w30, or -w 30: the value is required
                    if j < len(arg):
                        args.values[flag] = arg[j:]
                    elif i < len(rest):
                        args.values[flag], i = rest[i], i + 1
                    else:
                        raise UsageError()
                    break
                if flag in optional:
                    if j < len(arg):  # -cPATH: the rest of the word is the value
                        args.config = arg[j:]
                    elif i < len(rest) and not _is_option(rest[i]):
                        args.config = rest[i]
                        i += 1
                    break
    for flag in set(seen):
        if flag != "v" and seen.count(flag) > 1:
            raise UsageError()  # getopts: "given more than once"
    args.verbose = seen.count("v")
    args.flags = set(seen) - {"v"}
    extra = 1 if args.command in _OPTIONAL_ARGUMENT else 0
    if "h" in args.flags or not npos <= len(args.free) <= npos + extra:
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


MAX_WAIT_SECONDS = 2**32 - 1
"""``-w``'s largest value: the D-Bus method takes an unsigned 32-bit number of seconds."""


def _show(args: Args, pn: str) -> int:
    from pizauth_dbus.cli.client import CallError, call

    try:
        if "w" in args.values:
            text = args.values["w"]
            if not text.isascii() or not text.isdigit() or int(text) > MAX_WAIT_SECONDS:
                return _error(f"Invalid wait '{text}': give a whole number of seconds")
            seconds = int(text)
            (token,) = call("WaitForToken", "su", args.free[0], seconds, wait=seconds)
        else:
            (token,) = call("Show", "s", args.free[0])
    except CallError as e:
        return _call_failed(e, "u" in args.flags)
    sys.stdout.write(token + "\n")
    return 0


def _call_failed(e: Exception, hide_url: bool = False) -> int:
    from pizauth_dbus.cli.client import CallError

    assert isinstance(e, CallError)
    if e.name == ERROR_PREFIX + "AuthorisationPending" and hide_url:
        return _error(PENDING_PREFIX)
    _error(str(e))
    if e.name == ERROR_PREFIX + "AuthorisationPending" and _browser_elsewhere(str(e)):
        sys.stderr.write(COMPLETE_LINE)
    if e.spawn_failed:
        _explain_failed_activation()
    return 1


COMPLETE_LINE = (
    "In a browser on another machine, sign in there, then run: "
    "pizauth complete <account> '<the address it ended on>'\n"
)
"""After upstream's line, for a person in an SSH session (whose browser is elsewhere)."""


def _browser_elsewhere(message: str) -> bool:
    """Whether this is an SSH session without a display, and the pending sign-in is one that
    redirects to a listener (a device code needs no such help)."""
    env = os.environ
    ssh = "SSH_CONNECTION" in env or "SSH_TTY" in env
    local_display = "DISPLAY" in env or "WAYLAND_DISPLAY" in env
    return ssh and not local_display and " and code " not in message


def _explain_failed_activation() -> None:
    """Say why D-Bus activation failed, when the reason is the config (the usual one).

    Upstream has no activation, so its line above stays as it is; this only adds after it. The
    config is parsed here, on this failure path only, so ``show`` stays light otherwise.
    """
    from pizauth_dbus.errors import ConfigError
    from pizauth_dbus.paths import config_path

    try:
        from pizauth_dbus.config.loader import load

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
        from pizauth_dbus.cli.client import CallError, call

        try:
            call(method, signature, *args.free, auto_start=auto_start)
        except CallError as e:
            return _call_failed(e, "u" in args.flags)
        return 0

    return run


MAX_PASTED_URL = 64 * 1024
"""A redirect address is a few hundred characters; standard input is read up to this much."""


def _complete(args: Args, pn: str) -> int:
    """Finish a pending sign-in with the address the browser ended on (pizauth-dbus's own
    command): the URL from the argument, else the first line of standard input."""
    from pizauth_dbus.cli.client import CallError, call

    if len(args.free) > 1:
        url = args.free[1]
    else:
        if sys.stdin.isatty():
            sys.stderr.write("Paste the address the browser ended on, then press Enter:\n")
        url = sys.stdin.readline(MAX_PASTED_URL)
    url = url.strip()
    if not url:
        return _error("No URL given: paste the address the browser ended on")
    try:
        call("Complete", "ss", args.free[0], url, auto_start=False, wait=COMPLETE_WAIT)
    except CallError as e:
        return _call_failed(e)
    return 0


COMPLETE_WAIT = 420
"""Seconds ``complete`` waits for the code exchange: its ten attempts (30 s at most each, 6 s
apart, as upstream's) fit within this."""


def _dump(args: Args, pn: str) -> int:
    from pizauth_dbus.cli.client import CallError, call

    try:
        (data,) = call("Dump", auto_start=False)
    except CallError as e:
        return _call_failed(e)
    sys.stdout.buffer.write(bytes(data))
    sys.stdout.buffer.flush()
    return 0


def _restore(args: Args, pn: str) -> int:
    from pizauth_dbus.cli.client import CallError, call

    data = sys.stdin.buffer.read()  # all of it before contacting the server, as upstream
    try:
        call("Restore", "ay", data)
    except CallError as e:
        return _call_failed(e)
    return 0


def _status(args: Args, pn: str) -> int:
    from pizauth_dbus.cli.client import CallError, call
    from pizauth_dbus.cli.output import format_status

    try:
        (rows,) = call("Status", auto_start=False)
    except CallError as e:
        return _call_failed(e)
    sys.stdout.write(format_status(rows) + "\n")
    return 0


def _info(args: Args, pn: str) -> int:
    """Mostly client-side, as upstream: the paths, and the server's answer if one runs."""
    from pizauth_dbus.cli.client import CallError, call
    from pizauth_dbus.cli.output import format_info
    from pizauth_dbus.errors import ConfigError
    from pizauth_dbus.paths import config_path, ensure_runtime_dir

    try:
        cache = ensure_runtime_dir()
        conf = config_path(args.config)
    except ConfigError as e:
        sys.stderr.write(f"{e}\n")  # upstream's fatal(): no "ERROR - " prefix
        return 1
    try:
        (answer,) = call("Info", auto_start=False)
        server: dict[str, str] | None = dict(answer)
    except CallError:
        server = None
    text = format_info(
        pn, __version__, INFO_FORMAT_VERSION, cache, conf, server, as_json="j" in args.flags
    )
    # UTF-8 whatever the locale, as upstream; a path's undecodable bytes as escapes.
    sys.stdout.buffer.write((text + "\n").encode("utf-8", "backslashreplace"))
    return 0


def _server(args: Args, pn: str) -> int:
    from pizauth_dbus.cli.client import server_running
    from pizauth_dbus.errors import ConfigError
    from pizauth_dbus.paths import config_path, ensure_runtime_dir
    from pizauth_dbus.server.hardening import harden_process

    started = time.perf_counter()
    harden_process()  # before any secret is read
    try:
        ensure_runtime_dir()
    except ConfigError as e:
        sys.stderr.write(f"{e}\n")
        return 1
    # Upstream checks for a running server before it reads the config, so a second start
    # says "already running" even when the config has since been broken.
    if server_running():
        sys.stderr.write("pizauth authenticator already running\n")
        return 1
    checked = time.perf_counter()
    try:
        path = config_path(args.config)
        from pizauth_dbus.config.loader import load

        config = load(path)
    except ConfigError as e:
        sys.stderr.write(f"{e}\n")
        return 1
    loaded = time.perf_counter()
    from pizauth_dbus.server.process import run

    # The first `show` of a session waits for all of start-up: its phases are logged (debug).
    phases = {
        "checks": checked - started,
        "config": loaded - checked,
        "imports": time.perf_counter() - loaded,
    }
    return run(config, os.path.abspath(path), "d" in args.flags, args.verbose, phases)


_COMMAND_FUNCS = {
    "complete": _complete,
    "dump": _dump,
    "info": _info,
    "refresh": _simple("Refresh", "s"),
    "restore": _restore,
    "reload": _simple("Reload", auto_start=False),
    "revoke": _simple("Revoke", "s", auto_start=False),
    "server": _server,
    "show": _show,
    "shutdown": _simple("Shutdown", auto_start=False),
    "status": _status,
}
"""Only ``show``, ``refresh`` and ``restore`` may start a server by D-Bus activation: they are
what a mail program or a login script runs, and a fresh server can serve them. The others would
only ask an empty new server about nothing (``dump > backup`` would overwrite a good backup with
an empty dump), so with no server they say it is not running, as upstream."""
