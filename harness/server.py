"""The real pizauth server and CLI, run as subprocesses the way a user runs them.

Contract relied on: ``pizauth server -d -c CONFIG`` stays in the foreground and logs to stderr;
once fully started it owns ``org.pizauth`` on the session bus; ``pizauth shutdown`` asks it to
exit. Every CLI call gets the server's environment, so it talks to the same private bus.
:func:`install_into` runs ``pizauth-dbus install`` into a private bus's data directory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Self

from harness.dbus_daemon import PrivateBus, name_owner_pid
from harness.procs import popen_in_group, read_text, stop_group, wait_for, wait_until
from harness.service import Service

BUS_NAME = "org.pizauth"

READY_TIMEOUT = 20.0
"""Seconds the server gets to own its bus name: it starts in well under a second."""

CLI_TIMEOUT = 20.0
"""Default seconds one CLI command may take before it is killed."""

SHUTDOWN_WAIT = 10.0
"""Seconds the server gets to exit after ``pizauth shutdown``, before SIGTERM."""
INSTALL_TIMEOUT = 60.0
"""Seconds ``pizauth-dbus install`` may take (it writes two files and asks the bus to reload)."""


def pizauth_command() -> list[str]:
    """How to run pizauth: the console script next to this Python, else ``python -m``."""
    script = Path(sys.executable).with_name("pizauth")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "pizauth_dbus"]


def server_argv(config_path: Path) -> list[str]:
    """The server's command line, e.g. for an activation file's ``Exec=``
    (``PrivateBus.add_service(BUS_NAME, server_argv(config))``)."""
    return [*pizauth_command(), "server", "-d", "-c", str(config_path)]


def install_into(env: Mapping[str, str], bus: PrivateBus) -> None:
    """``pizauth-dbus install`` into ``bus``'s own data directory, as into a person's."""
    r = subprocess.run(
        [str(Path(sys.executable).with_name("pizauth-dbus")), "install"],
        env={**env, "XDG_DATA_HOME": str(bus.data_dir)},
        capture_output=True,
        timeout=INSTALL_TIMEOUT,
        check=True,
    )
    # The bus has read the new file before install returns: the doctor's "activatable" check
    # must not race the bus's own directory watch (it lost that race under load).
    assert r.stdout.endswith(b"the session bus has read its service files again\n"), r.stdout


def run_cli(
    env: Mapping[str, str],
    *args: str,
    input: bytes | None = None,
    timeout: float = CLI_TIMEOUT,
    command: Sequence[str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``pizauth *args`` with exactly ``env``, capturing stdout and stderr as bytes.

    :param input: bytes for stdin; stdin is /dev/null when None.
    :param timeout: the process is killed and ``subprocess.TimeoutExpired`` raised after this.
    :param command: the program to run instead of :func:`pizauth_command`.
    """
    argv = [*(command if command is not None else pizauth_command()), *args]
    return subprocess.run(
        argv,
        env=dict(env),
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


class PizauthServer(Service):
    """One ``pizauth server -d -c CONFIG`` process; also a context manager that stops it.

    :param config_path: the configuration file (:meth:`write_config` rewrites it for reloads).
    :param env: the whole environment; must hold ``DBUS_SESSION_BUS_ADDRESS``.
    :param log_path: where the server's stderr (and stdout) go.
    :param command: the program to run instead of :func:`pizauth_command` (the same one is used
        for :meth:`cli`); the server's arguments are appended to it.
    :param bus_address: the bus to watch for the server's name, when ``env`` has no
        ``DBUS_SESSION_BUS_ADDRESS`` (the server then finds the bus as any client would).
    """

    def __init__(
        self,
        config_path: Path,
        env: Mapping[str, str],
        *,
        log_path: Path,
        command: Sequence[str] | None = None,
        bus_address: str | None = None,
    ) -> None:
        address = bus_address or env.get("DBUS_SESSION_BUS_ADDRESS")
        if not address:
            raise ValueError("the server needs DBUS_SESSION_BUS_ADDRESS or a bus_address")
        self._bus_address = address
        self.config_path = config_path
        self.env = dict(env)
        self.log_path = log_path
        self.command = list(command) if command is not None else pizauth_command()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bus_address(self) -> str:
        """The bus the server is expected on (its environment may leave it to be found)."""
        return self._bus_address

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("the server was never started")
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once the server has exited (negative for a signal), else None."""
        return None if self._proc is None else self._proc.poll()

    def write_config(self, text: str) -> None:
        """Replace the configuration file's text (follow with ``cli("reload")``)."""
        self.config_path.write_text(text)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, *, wait: bool = True, timeout: float = READY_TIMEOUT) -> Self:
        """Start the server; with ``wait``, also :meth:`wait_ready`."""
        if self._proc is not None:
            raise RuntimeError("already started")
        self._proc = popen_in_group(
            [*self.command, "server", "-d", "-c", str(self.config_path)],
            env=self.env,
            log_path=self.log_path,
        )
        if wait:
            self.wait_ready(timeout)
        return self

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def owns_bus_name(self) -> bool:
        """Whether ``org.pizauth`` is owned by this very process (not some other instance)."""
        return self._proc is not None and name_owner_pid(self.bus_address, BUS_NAME) == self.pid

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait (bounded) until this process owns ``org.pizauth``.

        :raises RuntimeError: when it exits first or the time runs out; the message holds its log.
        """
        if wait_until(self.owns_bus_name, timeout, abort=lambda: not self.running()):
            return
        # Exited just after taking the name, or never got it: either way report the log.
        status = self.returncode
        if status is None:
            raise RuntimeError(
                f"pizauth server did not own {BUS_NAME} within {timeout} s; log:\n{self.log()}"
            )
        raise RuntimeError(
            f"pizauth server exited with status {status} at start; log:\n{self.log()}"
        )

    def kill(self, timeout: float = SHUTDOWN_WAIT) -> int | None:
        """SIGKILL the server, as the OOM killer would: no chance to withdraw or save anything.

        Waits (bounded) until it has exited and the bus has noticed, so that a successor can
        own ``org.pizauth`` at once: the bus releases a dead connection's names a moment after
        the process dies, later still on a busy machine.

        :returns: its exit status (``-SIGKILL`` unless it had exited already).
        :raises AssertionError: when the bus still names it after ``timeout`` seconds.
        """
        if self._proc is None:
            raise RuntimeError("the server was never started")
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
        status = self.wait_exit(timeout)
        wait_for(
            lambda: name_owner_pid(self.bus_address, BUS_NAME) != self.pid,
            f"the bus to release {BUS_NAME} of the killed server",
            timeout,
        )
        return status

    def wait_exit(self, timeout: float = SHUTDOWN_WAIT) -> int | None:
        """Wait (bounded) for the server to exit; returns its status, or None if still running."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, *, shutdown_wait: float = SHUTDOWN_WAIT) -> int | None:
        """``pizauth shutdown``, a bounded wait, then SIGTERM and SIGKILL as needed. Idempotent.

        Whatever is left in the server's process group (e.g. a hook it started) is stopped too.

        :returns: the server's exit status (negative for a signal), or None if never started.
        """
        if self._proc is None:
            return None
        if self.running():
            deadline = time.monotonic() + shutdown_wait
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.cli("shutdown", timeout=shutdown_wait)
            self.wait_exit(max(0.0, deadline - time.monotonic()))
        return stop_group(self._proc)

    def started(self) -> bool:
        return self._proc is not None

    # -- use ----------------------------------------------------------------------------------

    def cli(
        self, *args: str, input: bytes | None = None, timeout: float = CLI_TIMEOUT
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``pizauth *args`` with the server's environment (hence its bus)."""
        return run_cli(self.env, *args, input=input, timeout=timeout, command=self.command)

    def log(self) -> str:
        """The server's stderr so far."""
        return read_text(self.log_path)


def cli_with(flag: str) -> list[str]:
    """The CLI with ``flag`` appended to every command line.

    For ``-vv``, ``server -d -c <path> -vv`` logs at info level; client commands ignore it.
    """
    code = (
        "import sys; from pizauth_dbus.cli.pizauth import main; "
        f"sys.exit(main(['pizauth', *sys.argv[1:], {flag!r}]))"
    )
    return [sys.executable, "-c", code]


class ServerFactory:
    """Starts real pizauth servers on the test's private bus; all stopped at teardown, and
    their logs printed (pytest shows them for failing tests).

    ``start(config_text)`` writes ``$XDG_CONFIG_HOME/pizauth.conf`` (the default path, so CLI
    commands that read the config find the same file), starts ``pizauth server -d -c <it>``
    with ``-vv`` (info level: several behaviours a person relies on show only in the log) and
    waits until it owns ``org.pizauth``.
    """

    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self.env = env
        self.tmp_path = tmp_path
        self._started: list[PizauthServer] = []

    @classmethod
    def fixture(cls, env: dict[str, str], tmp_path: Path) -> Iterator[ServerFactory]:
        """Yield a factory and stop what it started afterwards (for a pytest fixture)."""
        factory = cls(env, tmp_path)
        try:
            yield factory
        finally:
            factory.stop_all()

    def start(
        self,
        config_text: str,
        *,
        wait: bool = True,
        config_name: str = "pizauth.conf",
        extra_env: Mapping[str, str] | None = None,
        flag: str | None = "-vv",
    ) -> PizauthServer:
        """Start a server with ``config_text``.

        :param wait: wait until it owns ``org.pizauth`` (raising with its log if it exits
            first); pass False to test start-up failures (then use ``wait_exit``).
        :param config_name: file name inside ``$XDG_CONFIG_HOME``.
        :param extra_env: added to the server's (and its CLI calls') environment.
        :param flag: added to the server's command line (and its CLI calls'); None for none.
        """
        config_path = Path(self.env["XDG_CONFIG_HOME"]) / config_name
        config_path.write_text(config_text)
        server = PizauthServer(
            config_path,
            {**self.env, **(extra_env or {})},
            log_path=self.tmp_path / f"server-{len(self._started)}.log",
            command=cli_with(flag) if flag else None,
        )
        self._started.append(server)
        return server.start(wait=wait)

    __call__ = start

    def stop_all(self) -> None:
        for server in reversed(self._started):
            server.stop()
        for server in self._started:
            print(f"--- {server.log_path.name} ---\n{server.log()}")
