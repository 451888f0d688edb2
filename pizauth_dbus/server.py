"""``pizauth server``: the process around the daemon: logging, detaching, the bus name.

Startup order (as upstream, with the bus in place of the socket): refuse to start when another
server owns the name; bind the listeners; start the duties; export the interface and only then
take the name (queued calls, activating ones included, arrive as soon as it is owned); run
``startup_cmd``. The server stops on ``Shutdown``, SIGTERM, SIGINT, or when the bus goes away,
releasing the name and closing the listeners before it exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import os
import sys

from dbus_fast import BusType, Message, MessageType, NameFlag, RequestNameReply
from dbus_fast.aio import MessageBus

from pizauth_dbus import BUS_NAME, OBJECT_PATH
from pizauth_dbus.config import Config
from pizauth_dbus.errors import AlreadyRunningError

log = logging.getLogger("pizauth")

_LEVELS = [logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG]


def setup_logging(verbosity: int, to_syslog: bool) -> None:
    """Log at upstream's levels (0 error ... 3+ debug) to stderr or to syslog/the journal."""
    level = _LEVELS[min(verbosity, len(_LEVELS) - 1)]
    logging.addLevelName(logging.WARNING, "WARN")
    handler: logging.Handler
    if to_syslog and os.path.exists("/dev/log"):
        handler = logging.handlers.SysLogHandler(address="/dev/log")
        handler.setFormatter(logging.Formatter("pizauth: %(message)s"))
    elif to_syslog:
        handler = logging.NullHandler()
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s - %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter only when asked for the most verbose output.
    for noisy in ("aiohttp", "dbus_fast", "asyncio"):
        logging.getLogger(noisy).setLevel(level if verbosity >= 4 else logging.WARNING)


def detach() -> None:
    """Become a daemon: fork twice, new session, stdio to /dev/null, working directory kept."""
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

    try:
        bus = await MessageBus(bus_type=BusType.SESSION).connect()
    except Exception as e:
        log.error("Cannot connect to the session bus: %s", e)
        return 1
    try:
        if await _name_has_owner(bus):
            raise AlreadyRunningError()
        daemon = Daemon(config, config_path)
        try:
            await daemon.start()
        except OSError as e:
            log.error("Cannot start the redirect listeners: %s", e)
            await daemon.stop()
            return 1
        bus.export(OBJECT_PATH, Manager(daemon))
        reply = await bus.request_name(BUS_NAME, NameFlag.DO_NOT_QUEUE)
        if reply != RequestNameReply.PRIMARY_OWNER:
            await daemon.stop()
            raise AlreadyRunningError()
        daemon.install_signal_handlers()
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
        else:
            await bus.release_name(BUS_NAME)
        await daemon.stop()
        log.info("Stopped")
        return 0
    finally:
        bus.disconnect()


def run(config: Config, config_path: str, foreground: bool, verbosity: int) -> int:
    """Everything ``pizauth server`` does after the config has been read and checked."""
    if not foreground:
        detach()
    setup_logging(verbosity, to_syslog=not foreground)
    try:
        return asyncio.run(serve(config, config_path))
    except AlreadyRunningError as e:
        print(e, file=sys.stderr)
        return 1
