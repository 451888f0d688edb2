"""A private D-Bus session bus for one test: a real ``dbus-daemon`` with a generated config.

The daemon listens in its own short-named temporary directory (Unix socket paths are limited to
about 108 bytes, and pytest's ``tmp_path`` can be longer), looks for activatable services in
``services_dir`` only, allows everything, and authenticates with EXTERNAL. Services it activates
inherit the environment it was started with, not their caller's, so give it the test's
whole environment, or push variables later with :meth:`PrivateBus.update_activation_environment`.

Queries go through jeepney's blocking client: no subprocess, no event loop.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from jeepney.io.blocking import open_dbus_connection

from harness.dbus_call import BUS_DAEMON, CallError, call
from harness.procs import popen_ready, read_text
from harness.service import GroupService

START_TIMEOUT = 10.0
"""Seconds to wait for dbus-daemon to print its address: it normally takes a few milliseconds."""

CALL_TIMEOUT = 5.0
"""Seconds to wait for the bus daemon to answer one query."""

SERVICE_START_TIMEOUT_MS = 10_000
"""How long the bus waits for an activated service to own its name (the brief's 10 s)."""

SOCKET_DIR_MAX = 60
"""The longest base directory that leaves room, below the ~108 bytes of a Unix socket path,
for the bus's own ``pzbus-XXXXXXXX/s/dbus-XXXXXXXXXX`` (or ``.../run/bus``)."""

_CONFIG_TEMPLATE = """\
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>{kind}</type>
  <keep_umask/>
  <listen>unix:{listen}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{services_dir}</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
  <limit name="service_start_timeout">{service_start_timeout}</limit>
</busconfig>
"""


def _xml_text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _call(
    address: str,
    method: str,
    signature: str = "",
    body: tuple[Any, ...] = (),
    *,
    timeout: float = CALL_TIMEOUT,
) -> tuple[str, Any]:
    """Call ``method`` of the bus daemon itself over a fresh connection to ``address``.

    :returns: the unique name of the connection used, and the reply's body.
    :raises RuntimeError: on an error reply.
    """
    with open_dbus_connection(bus=address) as conn:
        try:
            answer = call(conn, BUS_DAEMON, method, signature, body, timeout=timeout).result()
        except CallError as e:
            raise RuntimeError(f"{method} failed on {address}: {e.body}") from None
        return conn.unique_name, answer


def name_has_owner(address: str, name: str) -> bool:
    """Whether ``name`` has an owner on the bus at ``address``."""
    _, body = _call(address, "NameHasOwner", "s", (name,))
    return bool(body[0])


def name_owner_pid(address: str, name: str) -> int | None:
    """The process id of the owner of ``name`` on the bus at ``address``, or None if unowned."""
    try:
        _, body = _call(address, "GetConnectionUnixProcessID", "s", (name,))
    except RuntimeError:
        return None
    return int(body[0])


class PrivateBus(GroupService):
    """A running private ``dbus-daemon``; also a context manager that stops it on exit.

    :param env: the daemon's whole environment (activated services inherit it).
    :param base_dir: where to create the daemon's directory; by default the temporary
        directory, or ``/tmp`` when that is too long for a socket path (a process whose
        ``TMPDIR`` is a test's ``tmp_path``). The directory and everything in it are removed by
        :meth:`stop`.
    :param user_bus: listen at :attr:`runtime_dir`/``bus``, as a systemd user session's bus does.
    :param kind: ``session``, or ``system`` for a private stand-in for the system bus (logind,
        NetworkManager and their mocks live there; point ``DBUS_SYSTEM_BUS_ADDRESS`` at it).
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        base_dir: Path | None = None,
        user_bus: bool = False,
        kind: str = "session",
    ) -> None:
        if base_dir is None and len(tempfile.gettempdir()) > SOCKET_DIR_MAX:
            base_dir = Path("/tmp")
        self.dir = Path(tempfile.mkdtemp(prefix="pzbus-", dir=base_dir))
        self.socket_dir = self.dir / "s"
        self.data_dir = self.dir / "share"
        """Laid out as an ``XDG_DATA_DIRS`` entry: its activation files are where a desktop's
        session bus (and ``pizauth-dbus doctor``) looks for them."""
        self.services_dir = self.data_dir / "dbus-1" / "services"
        self.config_path = self.dir / "session.conf"
        self.log_path = self.dir / "dbus-daemon.log"
        self.runtime_dir = self.dir / "run"
        """With ``user_bus``: an ``XDG_RUNTIME_DIR`` whose ``bus`` is this daemon's socket."""
        for d in (self.socket_dir, self.services_dir, self.runtime_dir):
            d.mkdir(mode=0o700, parents=True)
        # A systemd user session's bus listens at $XDG_RUNTIME_DIR/bus; the default is a
        # socket with a generated name, findable only through DBUS_SESSION_BUS_ADDRESS.
        listen = f"path={self.runtime_dir / 'bus'}" if user_bus else f"dir={self.socket_dir}"
        self.config_path.write_text(
            _CONFIG_TEMPLATE.format(
                kind=kind,
                listen=_xml_text(listen),
                services_dir=_xml_text(str(self.services_dir)),
                service_start_timeout=SERVICE_START_TIMEOUT_MS,
            )
        )
        self._env = dict(env)
        self.address = ""

    def start(self) -> Self:
        """Start the daemon and wait (bounded) for its address.

        :raises RuntimeError: when it exits or stays silent; the message holds its output.
        """
        try:
            self._proc, self.address = popen_ready(
                lambda fd: [
                    "dbus-daemon",
                    f"--config-file={self.config_path}",
                    "--nofork",
                    "--nopidfile",
                    f"--print-address={fd}",
                ],
                what="dbus-daemon address",
                env=self._env,
                log_path=self.log_path,
                timeout=START_TIMEOUT,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def log(self) -> str:
        """The daemon's output so far, including that of the services it activated."""
        return read_text(self.log_path)

    def stop(self) -> None:
        """SIGTERM the daemon and the services it activated, wait (bounded), then SIGKILL.

        Idempotent; also removes the daemon's directory.
        """
        super().stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- queries ------------------------------------------------------------------------------

    def name_has_owner(self, name: str) -> bool:
        """Whether ``name`` currently has an owner on this bus."""
        return name_has_owner(self.address, name)

    def name_owner_pid(self, name: str) -> int | None:
        """The process id of the owner of ``name``, or None if it has none."""
        return name_owner_pid(self.address, name)

    def list_names(self) -> list[str]:
        """Every name on the bus (``ListNames``), the querying connection's own included."""
        _, body = _call(self.address, "ListNames")
        return [str(n) for n in body[0]]

    def list_activatable_names(self) -> list[str]:
        """``ListActivatableNames``: the bus itself plus every service file it knows."""
        _, body = _call(self.address, "ListActivatableNames")
        return [str(n) for n in body[0]]

    def connection_count(self) -> int:
        """The number of connections (unique names) on the bus, not counting the one made to ask."""
        own_name, body = _call(self.address, "ListNames")
        return sum(1 for n in body[0] if n.startswith(":") and n != own_name)

    def update_activation_environment(self, variables: Mapping[str, str]) -> None:
        """Add ``variables`` to the environment of services activated from now on."""
        _call(self.address, "UpdateActivationEnvironment", "a{ss}", (dict(variables),))

    # -- activation ---------------------------------------------------------------------------

    def add_service(self, name: str, argv: Sequence[str], *, extra: str = "") -> Path:
        """Write an activation file for bus name ``name`` that runs ``argv``.

        :param argv: the command; its first element must be an absolute path (the bus does no
            PATH lookup). Quoted so the bus's shell-like parser gives back the same words.
        :param extra: further ``Key=value`` lines, e.g. ``"SystemdService=pizauth.service\\n"``.
        :returns: the file written.
        """
        if not argv or not os.path.isabs(argv[0]):
            raise ValueError(f"activation needs an absolute command path, got {argv!r}")
        path = self.services_dir / f"{name}.service"
        # Written whole then renamed, so the bus's directory watch never sees a partial file.
        partial = path.with_suffix(".partial")
        partial.write_text(f"[D-BUS Service]\nName={name}\nExec={shlex.join(argv)}\n{extra}")
        partial.replace(path)
        # The bus notices new files asynchronously; reloading makes the new service known now
        # (e.g. to ListActivatableNames) rather than at some point soon.
        _call(self.address, "ReloadConfig")
        return path

    def start_service(self, name: str) -> int:
        """Ask the bus to activate ``name`` (``StartServiceByName``) and wait for the outcome.

        :returns: 1 when the service was started, 2 when it was already running.
        :raises RuntimeError: when activation fails (the message holds the bus's error).
        """
        _, body = _call(
            self.address,
            "StartServiceByName",
            "su",
            (name, 0),
            timeout=SERVICE_START_TIMEOUT_MS / 1000 + CALL_TIMEOUT,
        )
        return int(body[0])
