"""``pizauth server``: the process around the daemon: logging, detaching, the bus name.

Startup order (as upstream, with the bus in place of the socket): refuse to start when another
server owns the name; bind the listeners; start the duties; export the interface and only then
take the name (queued calls, activating ones included, arrive as soon as it is owned); run
``startup_cmd``. The server stops on ``Shutdown``, SIGTERM, SIGINT, or when the bus goes away,
releasing the name and closing the listeners before it exits 0. SIGHUP reloads the config.

Without ``-d`` the server logs to syslog (the journal on systemd machines) and detaches; with
``-d`` it stays in the foreground and logs to stderr.
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import os
import socket
import sys

from dbus_fast import BusType, Message, MessageType, NameFlag, RequestNameReply
from dbus_fast.aio import MessageBus

from pizauth_dbus import BUS_NAME, OBJECT_PATH
from pizauth_dbus.config import Config
from pizauth_dbus.errors import AlreadyRunningError

log = logging.getLogger("pizauth")

_LEVELS = [logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG]
"""``-v`` counts 0 to 3; upstream's fourth level, trace, adds the libraries' own debug logs."""
SYSLOG_SOCKET = os.environ.get("PIZAUTH_SYSLOG_SOCKET", "/dev/log")
"""The local syslog socket (journald listens there too). The variable exists for the tests."""
IDENT = "pizauth"


def setup_logging(verbosity: int, to_syslog: bool) -> None:
    """Log at upstream's levels (0 error ... 4 trace) to stderr or to syslog/the journal.

    :raises OSError: when syslog cannot be reached.
    """
    level = _LEVELS[min(verbosity, len(_LEVELS) - 1)]
    logging.addLevelName(logging.WARNING, "WARN")
    handler: logging.Handler
    if to_syslog:
        _check_syslog(SYSLOG_SOCKET)
        # RFC 3164 over the local socket, identity "pizauth[<pid>]" as syslog(3) writes it; the
        # pid is looked up per message because detaching changes it.
        handler = logging.handlers.SysLogHandler(address=SYSLOG_SOCKET)
        handler.setFormatter(logging.Formatter(f"{IDENT}[%(process)d]: %(message)s"))
        handler.append_nul = False  # syslog(3) sends none; some readers show it as garbage
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s - %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter only when asked for the most verbose output.
    for noisy in ("aiohttp", "dbus_fast", "asyncio"):
        logging.getLogger(noisy).setLevel(level if verbosity >= 4 else logging.WARNING)
    # aiohttp reports every malformed request on the redirect port as an error; they are the
    # client's problem (the listener answers 400), so show them only when debugging.
    logging.getLogger("aiohttp.server").setLevel(level if verbosity >= 3 else logging.CRITICAL)


def _check_syslog(path: str) -> None:
    """Fail now if nobody listens at ``path``: the handler would drop every message silently.

    :raises OSError: as connecting gives it.
    """
    error: OSError | None = None
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_UNIX, kind) as s:
            try:
                s.connect(path)
            except OSError as e:
                error = error or e
            else:
                return
    assert error is not None
    raise error


def detach() -> None:
    """Become a daemon: fork twice, new session, stdio to /dev/null, working directory kept.

    The parent exits 0 at once, as upstream's (daemon(3)): later failures reach only the log.

    :raises OSError: when a fork fails.
    """
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)


async def _name_has_owner(bus: MessageBus) -> bool:
    reply = await bus.call(
        Message(
            destination="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
            member="NameHasOwner",
            signature="s",
            body=[BUS_NAME],
        )
    )
    return (
        reply is not None
        and reply.message_type == MessageType.METHOD_RETURN
        and bool(reply.body[0])
    )


async def serve(config: Config, config_path: str) -> int:
    """Run the server until it is told to stop.

    :returns: the exit code.
    :raises AlreadyRunningError: when another server owns the bus name.
    """
    from pizauth_dbus.bus import Manager
    from pizauth_dbus.daemon import Daemon
    from pizauth_dbus.desktop import Desktop

    try:
        bus = await MessageBus(bus_type=BusType.SESSION).connect()
    except Exception as e:
        log.error("Cannot connect to the session bus: %s", e)
        return 1
    try:
        if await _name_has_owner(bus):
            raise AlreadyRunningError()
        daemon = Daemon(config, config_path)
        # Early, so that a SIGTERM while starting still ends in an orderly stop.
        daemon.install_signal_handlers()
        try:
            await daemon.start()
        except OSError as e:
            log.error("Cannot start the redirect listeners: %s", e)
            await daemon.stop()
            return 1
        bus.export(OBJECT_PATH, Manager(daemon))
        desktop = Desktop(daemon, bus)  # before the name: queued calls may need notifying
        desktop.start()
        reply = await bus.request_name(BUS_NAME, NameFlag.DO_NOT_QUEUE)
        if reply != RequestNameReply.PRIMARY_OWNER:
            await desktop.stop(withdraw=False)
            await daemon.stop()
            raise AlreadyRunningError()
        desktop.adopt()  # only now: before, another server's notifications may be recorded
        log.info(
            "Listening for redirects on HTTP port %s, HTTPS port %s",
            daemon.listeners.http_port or "none",
            daemon.listeners.https_port or "none",
        )
        daemon.run_startup_cmd()
        stop = asyncio.ensure_future(daemon.stopping.wait())
        gone = asyncio.ensure_future(bus.wait_for_disconnect())  # type: ignore[no-untyped-call]
        await asyncio.wait([stop, gone], return_when=asyncio.FIRST_COMPLETED)
        for fut in (stop, gone):
            fut.cancel()
        if gone.done() and not gone.cancelled():
            log.warning("The session bus went away; stopping")
            await desktop.stop(withdraw=False)
        else:
            await desktop.stop()  # withdraws what is shown: its buttons would lead nowhere
            await bus.release_name(BUS_NAME)
        await daemon.stop()
        log.info("Stopped")
        return 0
    finally:
        bus.disconnect()


def run(config: Config, config_path: str, foreground: bool, verbosity: int) -> int:
    """Everything ``pizauth server`` does after the config has been read and checked."""
    try:
        setup_logging(verbosity, to_syslog=not foreground)
    except OSError as e:
        print(f"Cannot connect to syslog: {e}", file=sys.stderr)
        return 1
    for warning in config.warnings:
        # Deprecated but accepted constructs: shown on the terminal whatever the log level,
        # like config errors, because the person who can fix them is looking at it now.
        print(f"pizauth: {warning}", file=sys.stderr)
    if not foreground:
        try:
            detach()
        except OSError as e:
            print(f"Cannot daemonise: {e}", file=sys.stderr)
            return 1
    try:
        return asyncio.run(serve(config, config_path))
    except AlreadyRunningError as e:
        print(e, file=sys.stderr)
        return 1
