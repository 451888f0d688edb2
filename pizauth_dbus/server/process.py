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
import signal
import socket
import sys
import time
from typing import TYPE_CHECKING

from dbus_fast import NameFlag, RequestNameReply
from dbus_fast.aio import MessageBus

from pizauth_dbus import BUS_NAME, OBJECT_PATH
from pizauth_dbus.busaddr import export_session_bus_address, session_bus_address
from pizauth_dbus.config.model import Config
from pizauth_dbus.errors import AlreadyRunningError, error_text
from pizauth_dbus.oauth.httpclient import HttpClient
from pizauth_dbus.server import buscall
from pizauth_dbus.server.buscall import BusCallError
from pizauth_dbus.server.hooks import run_logged
from pizauth_dbus.server.tasks import Tasks
from pizauth_dbus.timing import KEYRING_CALL_TIMEOUT, KEYRING_START_WAIT

if TYPE_CHECKING:
    from pizauth_dbus.server.commands import Commands

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
    try:
        (owned,) = await buscall.call(bus, buscall.DAEMON, "NameHasOwner", "s", [BUS_NAME])
    except BusCallError:
        return False
    return bool(owned)


class _Phases:
    """How long each phase of start-up took, logged once the name is owned (debug level)."""

    def __init__(self, earlier: dict[str, float] | None) -> None:
        self.seconds = dict(earlier or {})
        self._mark = time.perf_counter()

    def lap(self, phase: str) -> None:
        mark = time.perf_counter()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + mark - self._mark
        self._mark = mark

    def log(self) -> None:
        laps = ", ".join(f"{k} {v * 1000:.1f}" for k, v in self.seconds.items())
        log.debug("Start-up phases (ms): %s", laps)


async def serve(config: Config, config_path: str, phases: dict[str, float] | None = None) -> int:
    """Build the duties, connect them, and run until told to stop.

    Every duty is made here and every listener of every signal is connected here, so this
    function is the map of who tells whom what.

    :param phases: seconds the start-up phases before this one took, by name.
    :returns: the exit code.
    :raises AlreadyRunningError: when another server owns the bus name.
    """
    clock = _Phases(phases)
    from pizauth_dbus.server.authorisation import Authoriser
    from pizauth_dbus.server.callers import Gate
    from pizauth_dbus.server.commands import Commands
    from pizauth_dbus.server.desktop.notifications import Desktop
    from pizauth_dbus.server.device_flow import DeviceFlow
    from pizauth_dbus.server.events import Eventer
    from pizauth_dbus.server.laptop import Laptop
    from pizauth_dbus.server.listeners import RedirectListeners
    from pizauth_dbus.server.manager import Manager
    from pizauth_dbus.server.network import waiting_times
    from pizauth_dbus.server.persistence import Persistence
    from pizauth_dbus.server.problems import Problems
    from pizauth_dbus.server.refresher import Refresher
    from pizauth_dbus.server.reminders import Reminders
    from pizauth_dbus.server.secretservice import SecretService
    from pizauth_dbus.server.state import Active, DeviceWaiting, Entry, Pending, Store

    clock.lap("imports")
    address = export_session_bus_address()
    if address is None:
        log.error("Cannot connect to the session bus: %s", session_bus_address()[1])
        return 1
    try:
        bus = await MessageBus(bus_address=address).connect()
    except Exception as e:
        log.error("Cannot connect to the session bus: %s", error_text(e))
        return 1
    try:
        if await _name_has_owner(bus):
            raise AlreadyRunningError()
        clock.lap("bus name")
        http = HttpClient()
        store = Store(config)
        events = Eventer(lambda: store.config.token_event_cmd)
        problems = Problems()
        laptop = Laptop(
            bus,
            lambda: any(isinstance(e.token, Active | Pending | DeviceWaiting) for _, e in store),
        )
        network = laptop.network
        refresher = Refresher(store, events, http.session, network.offline, problems)
        reminders = Reminders(store, network.offline)
        persistence = Persistence(store, SecretService(bus, KEYRING_CALL_TIMEOUT))
        listeners: RedirectListeners
        authoriser = Authoriser(
            store,
            events,
            http.session,
            lambda: (listeners.http_port, listeners.https_port),
            problems,
        )
        listeners = RedirectListeners(authoriser)
        device = DeviceFlow(store, events, http.session, authoriser, network.wait_online)
        certificate = None
        if config.https_listen is not None:
            from pizauth_dbus.server.tls import make_certificate

            certificate = make_certificate()
        commands = Commands(
            store=store,
            authoriser=authoriser,
            device=device,
            refresher=refresher,
            reminders=reminders,
            events=events,
            listeners=listeners,
            certificate=certificate,
            config_path=config_path,
            keyring_times=persistence.times,
            network_times=lambda name: waiting_times(store.find(name), network.offline_since),
        )
        manager = Manager(commands, laptop.info)
        gate = Gate(bus, lambda: store.config.allowed_apps)
        desktop = Desktop(store, bus)

        def wake_duties(name: str, old: Entry | None, new: Entry | None) -> None:
            # Any change may move the next refresh or reminder; recomputing is cheap.
            if new is not None and isinstance(new.token, Active):
                refresher.wake()
            if new is not None and isinstance(new.token, Pending | DeviceWaiting):
                reminders.wake()
            if new is not None and isinstance(new.token, Active | Pending | DeviceWaiting):
                laptop.resume.wake()

        store.changed.connect(wake_duties)
        store.changed.connect(problems.account_changed)
        store.changed.connect(persistence.account_changed)
        store.changed.connect(commands.waiters.account_changed)
        authoriser.auth_failed.connect(commands.waiters.auth_failed)
        store.reconfigured.connect(persistence.reconfigured)
        store.changed.connect(manager.account_changed)
        store.changed.connect(desktop.account_changed)
        store.changed.connect(device.account_changed)
        events.changed.connect(manager.token_changed)
        reminders.auth_needed.connect(manager.auth_needed)
        reminders.auth_needed.connect(desktop.auth_needed)
        reminders.device_auth_needed.connect(manager.device_auth_needed)
        authoriser.auth_failed.connect(desktop.auth_failed)
        laptop.woke.connect(lambda why: refresher.kick())
        laptop.woke.connect(lambda why: reminders.renotify())

        async def stop_duties() -> None:
            await gate.stop()
            await laptop.stop()
            await listeners.stop()
            await authoriser.stop()
            await device.stop()
            await commands.waiters.stop()
            await background.stop()
            await refresher.stop()
            await reminders.stop()
            await persistence.stop()
            await events.stop()
            await http.close()

        background = Tasks()  # startup_cmd, and reloads on SIGHUP
        # Early, so that a SIGTERM while starting still ends in an orderly stop.
        _install_signal_handlers(commands, background)
        clock.lap("duties")
        try:
            await listeners.start(
                config.http_listen,
                config.https_listen,
                certificate.context if certificate else None,
            )
        except OSError as e:
            log.error("Cannot start the redirect listeners: %s", error_text(e))
            await stop_duties()
            return 1
        clock.lap("listeners")
        events.start()
        refresher.start()
        reminders.start()
        persistence.start()
        # Tokens in the keyring are resumed before anyone can be asked to sign in again, but a
        # slow keyring holds up the bus name (and so the first `show`) only briefly.
        try:
            async with asyncio.timeout(KEYRING_START_WAIT):
                await persistence.settled.wait()
        except TimeoutError:
            log.warning("The keyring has not answered yet; its tokens are resumed when it does")
        bus.export(OBJECT_PATH, manager)
        # The gate first: no method (nor Show's fast answer) runs before it has decided.
        bus.add_message_handler(gate.handle)
        bus.add_message_handler(manager.answer_show_at_once)
        desktop.start()  # before the name: queued calls may need notifying
        reply = await bus.request_name(BUS_NAME, NameFlag.DO_NOT_QUEUE)
        if reply != RequestNameReply.PRIMARY_OWNER:
            await desktop.stop(withdraw=False)
            await stop_duties()
            raise AlreadyRunningError()
        desktop.adopt()  # only now: before, another server's notifications may be recorded
        laptop.start()  # only now: a slow or missing system bus must not delay the name
        clock.lap("bus name")
        clock.log()
        log.info(
            "Listening for redirects on HTTP port %s, HTTPS port %s",
            listeners.http_port or "none",
            listeners.https_port or "none",
        )
        if config.startup_cmd is not None:
            # Once, in the background, with no time limit (upstream).
            background.spawn(run_logged("startup_cmd", config.startup_cmd, {}, None))
        stop = asyncio.ensure_future(commands.stopping.wait())
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
        await stop_duties()
        log.info("Stopped")
        return 0
    finally:
        bus.disconnect()


def _install_signal_handlers(commands: Commands, tasks: Tasks) -> None:
    """SIGHUP reloads, as for most daemons (upstream's server dies of it: see pizauth(1)'s
    DIFFERENCES); SIGTERM and SIGINT stop cleanly instead of killing the process on the spot."""

    async def reload() -> None:
        try:
            await commands.reload()
        except Exception as e:
            log.error("Reload on SIGHUP failed: %s", error_text(e))

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, lambda: tasks.spawn(reload(), name="SIGHUP reload"))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, commands.shutdown)


def run(
    config: Config,
    config_path: str,
    foreground: bool,
    verbosity: int,
    phases: dict[str, float] | None = None,
) -> int:
    """Everything ``pizauth server`` does after the config has been read and checked.

    :param phases: seconds each start-up phase so far took, by name, for the debug log.
    """
    try:
        setup_logging(verbosity, to_syslog=not foreground)
    except OSError as e:
        print(f"Cannot connect to syslog: {error_text(e)}", file=sys.stderr)
        return 1
    for warning in config.warnings:
        # Deprecated but accepted constructs: shown on the terminal whatever the log level,
        # like config errors, because the person who can fix them is looking at it now.
        print(f"pizauth: {warning}", file=sys.stderr)
    if not foreground:
        try:
            detach()
        except OSError as e:
            print(f"Cannot daemonise: {error_text(e)}", file=sys.stderr)
            return 1
    try:
        return asyncio.run(serve(config, config_path, phases))
    except AlreadyRunningError as e:
        print(e, file=sys.stderr)
        return 1
