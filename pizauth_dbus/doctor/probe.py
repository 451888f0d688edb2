"""What ``pizauth-dbus doctor`` asks the session bus, and where it looks for activation files.

Read-only and bounded: every call carries ``no_auto_start`` (asking must never start the
server, a notification service or a keyring) and a short timeout, so a hung peer is reported,
not waited for. Blocking jeepney, like the CLI: the doctor is a short-lived client too.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pizauth_dbus import BUS_NAME, INTERFACE, OBJECT_PATH, blocking_calls
from pizauth_dbus.blocking_calls import BusError

QUERY_TIMEOUT = 3.0
"""Seconds one question may take; a peer slower than that counts as not answering."""


class Bus:
    """A blocking connection that asks without activating anything.

    Its calls raise :class:`~pizauth_dbus.blocking_calls.BusError` (``name`` None for no
    answer at all).
    """

    def __init__(self, address: str) -> None:
        self._conn = blocking_calls.connect(address)

    def close(self) -> None:
        self._conn.close()

    def call(
        self, dest: str, path: str, iface: str, method: str, sig: str = "", *args: Any
    ) -> tuple[Any, ...]:
        return blocking_calls.call(
            self._conn, dest, path, iface, method, sig or None, *args, timeout=QUERY_TIMEOUT
        )

    def daemon(self, method: str, sig: str = "", *args: Any) -> tuple[Any, ...]:
        return self.call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            method,
            sig,
            *args,
        )

    def owner_pid(self, name: str) -> int | None:
        """The pid of the process owning ``name``, or None when nobody owns it."""
        try:
            (owner,) = self.daemon("GetNameOwner", "s", name)
            (pid,) = self.daemon("GetConnectionUnixProcessID", "s", owner)
        except BusError:
            return None
        return int(pid)

    def activatable(self, name: str) -> bool:
        (names,) = self.daemon("ListActivatableNames")
        return name in names

    def server_properties(self) -> dict[str, Any]:
        """The running server's own properties (version, config path, start time...)."""
        (props,) = self.call(
            BUS_NAME, OBJECT_PATH, "org.freedesktop.DBus.Properties", "GetAll", "s", INTERFACE
        )
        return {k: v[1] for k, v in props.items()}

    def server(self, method: str, sig: str = "", *args: Any) -> tuple[Any, ...]:
        """A call of the running server's own interface (never starting one)."""
        return self.call(BUS_NAME, OBJECT_PATH, INTERFACE, method, sig, *args)


def _data_dirs() -> list[Path]:
    """Where a session bus reads activation files (and desktops read desktop entries): the
    user's data directory first, then the system's, as the XDG base directory rules say."""
    home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local/share")
    system = os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
    return [Path(home), *(Path(d) for d in system.split(":") if d)]


def find_data_file(*parts: str) -> Path | None:
    """The first ``<data dir>/<parts>`` that exists."""
    for d in _data_dirs():
        path = d.joinpath(*parts)
        if path.is_file():
            return path
    return None


@dataclass(frozen=True)
class ServiceFile:
    """An activation file for ``org.pizauth``: where it is and what it runs."""

    path: Path
    exec_argv: list[str]
    systemd_service: str | None


def find_service_file() -> ServiceFile | None:
    """The activation file a session bus would use for ``org.pizauth``, if there is one."""
    import shlex

    for d in _data_dirs():
        services = d / "dbus-1" / "services"
        candidates = [services / f"{BUS_NAME}.service"]
        if services.is_dir():
            candidates += sorted(p for p in services.glob("*.service") if p not in candidates)
        for path in candidates:
            parser = configparser.ConfigParser(interpolation=None)
            try:
                parser.read(path, encoding="utf-8")
                section = parser["D-BUS Service"]
            except (configparser.Error, KeyError, OSError, UnicodeDecodeError):
                continue
            if section.get("Name") != BUS_NAME:
                continue
            try:
                argv = shlex.split(section.get("Exec", ""))
            except ValueError:
                argv = []
            return ServiceFile(path, argv, section.get("SystemdService"))
    return None


def find_user_unit(name: str) -> Path | None:
    """The systemd user unit ``name`` in the directories systemd reads them from."""
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    dirs = [Path(config) / "systemd" / "user"]
    dirs += [d / "systemd" / "user" for d in _data_dirs()]
    dirs += [
        Path(p)
        for p in ("/etc/systemd/user", "/usr/local/lib/systemd/user", "/usr/lib/systemd/user")
    ]
    for d in dirs:
        if (d / name).is_file():
            return d / name
    return None
