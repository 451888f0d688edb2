"""``pizauth-dbus install`` / ``uninstall``: the per-user files that make activation work.

A wheel cannot put files into D-Bus's service directories, and a service file's ``Exec=`` must
be an absolute path, which only exists once the package is installed (pip, pipx, a venv). So
this command writes the user's copy of ``org.pizauth.service`` with the path of the ``pizauth``
that is running it. Nothing here needs root; ``make install`` is the packagers' way.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

USAGE = """\
Usage:
  {pn} install
  {pn} uninstall
"""

SERVICE_NAME = "org.pizauth.service"


def data_home() -> Path:
    """``$XDG_DATA_HOME``, else ``~/.local/share``."""
    xdg = os.environ.get("XDG_DATA_HOME")
    return Path(xdg) if xdg else Path.home() / ".local" / "share"


def pizauth_argv() -> list[str]:
    """How to start this installation's ``pizauth``: its console script, else ``python -m``."""
    script = Path(sys.argv[0]).resolve().parent / "pizauth"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "pizauth_dbus"]


def service_text(argv: list[str]) -> str:
    """The D-Bus activation file for a server started as ``argv``."""
    # -d: an activated server must own the name itself, not fork away; its log then goes to
    # the bus's stderr, which is the journal on systemd desktops.
    exec_line = shlex.join([*argv, "server", "-d"])
    return (
        "# Written by `pizauth-dbus install`; removed by `pizauth-dbus uninstall`.\n"
        "[D-BUS Service]\n"
        "Name=org.pizauth\n"
        f"Exec={exec_line}\n"
    )


def installed_files() -> dict[Path, str]:
    """Every file ``install`` writes, with its contents."""
    return {data_home() / "dbus-1" / "services" / SERVICE_NAME: service_text(pizauth_argv())}


def install() -> list[Path]:
    """Write the per-user files; returns their paths."""
    written = []
    for path, text in installed_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)  # atomic, so the bus never reads half a file
        written.append(path)
    return written


def uninstall() -> list[Path]:
    """Remove what ``install`` wrote; returns the paths that were there."""
    removed = []
    for path in installed_files():
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pizauth-dbus`` command."""
    argv = list(sys.argv if argv is None else argv)
    pn = os.path.basename(argv[0]) if argv else "pizauth-dbus"
    if len(argv) != 2 or argv[1] not in ("install", "uninstall"):
        sys.stderr.write(USAGE.format(pn=pn))
        return 1
    try:
        paths = install() if argv[1] == "install" else uninstall()
    except OSError as e:
        sys.stderr.write(f"ERROR - {e}\n")
        return 1
    verb = "wrote" if argv[1] == "install" else "removed"
    for p in paths:
        print(f"{verb} {p}")
    return 0
