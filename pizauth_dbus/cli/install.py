"""``pizauth-dbus install`` / ``uninstall``: the per-user files that make activation work.

A wheel cannot put files into D-Bus's service directories, and a service file's ``Exec=`` must
be an absolute path, which only exists once the package is installed (pip, pipx, a venv). So
this command writes the user's copies of what ``data/`` holds for packagers, with the path of
the ``pizauth`` that is running it:

- ``org.pizauth.service``, the D-Bus activation file, in ``$XDG_DATA_HOME/dbus-1/services``;
- ``pizauth.service``, the systemd user unit, in ``$XDG_CONFIG_HOME/systemd/user``; the
  activation file names it in ``SystemdService=`` (the two are always written together, so
  systemd is never pointed at a unit that is not there);
- ``pizauth.desktop``, the desktop entry the notifications refer to, in
  ``$XDG_DATA_HOME/applications``.

The texts are made here rather than read from ``data/`` (which the wheel does not carry); a
test checks that they match ``data/``. Nothing here needs root; ``make install`` is the
packagers' way.

After writing or removing the files, :func:`tell_the_bus` asks the session bus to read its
service directories again. A bus cannot be trusted to notice by itself: dbus-daemon watches only
the directories that existed when it started (a new user's ``~/.local/share/dbus-1/services``
usually did not) and reads a change a moment later, and dbus-broker watches none.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

RELOAD_TIMEOUT = 5.0
"""Seconds the session bus may take to read its configuration again."""

SERVICE_NAME = "org.pizauth.service"
UNIT_NAME = "pizauth.service"
DESKTOP_NAME = "pizauth.desktop"


def data_home() -> Path:
    """``$XDG_DATA_HOME``, else ``~/.local/share``."""
    xdg = os.environ.get("XDG_DATA_HOME")
    return Path(xdg) if xdg else Path.home() / ".local" / "share"


def config_home() -> Path:
    """``$XDG_CONFIG_HOME``, else ``~/.config``."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return Path(xdg) if xdg else Path.home() / ".config"


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
        # A systemd bus starts the unit instead of Exec=; other buses ignore this line.
        f"SystemdService={UNIT_NAME}\n"
    )


def _systemd_word(word: str) -> str:
    # systemd's command lines: double quotes with C escapes; % starts a specifier and $ a
    # variable, so both are doubled.
    if re.fullmatch(r"[A-Za-z0-9_./+,:=@-]+", word):
        quoted = word
    else:
        quoted = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return quoted.replace("%", "%%").replace("$", "$$")


def unit_text(argv: list[str]) -> str:
    """The systemd user unit for a server started as ``argv`` (``data/pizauth.service``)."""
    start = " ".join(_systemd_word(w) for w in [*argv, "server", "-d"])
    reload = " ".join(_systemd_word(w) for w in [*argv, "reload"])
    return f"""\
# systemd user unit for the pizauth-dbus server, which owns org.pizauth on the session bus.
#
# Nothing needs to enable it: the D-Bus activation file names it in SystemdService=, so on a
# systemd desktop the first call to org.pizauth (the first `pizauth show`, say) starts this
# unit, whose log then goes to the journal. `systemctl --user enable pizauth` only makes it
# start at login as well, e.g. so that a startup_cmd restores tokens before anything asks.
[Unit]
Description=pizauth OAuth2 token daemon (D-Bus service org.pizauth)
Documentation=man:pizauth(1) man:pizauth.conf(5) man:org.pizauth(5)

[Service]
# Started once it owns its bus name; -d keeps it in the foreground, logging to the journal.
Type=dbus
BusName=org.pizauth
ExecStart={start}
ExecReload={reload}
# No ExecStop: on SIGTERM the server releases its name and closes its listeners by itself.
# No Restart: the next call to org.pizauth starts it again.

[Install]
WantedBy=default.target
"""


def _desktop_word(word: str) -> str:
    # Desktop entry Exec: double quotes only, with ", `, $ and \ escaped inside them; then the
    # value's own escaping doubles every backslash, and % is doubled as it starts field codes.
    if re.fullmatch(r"[A-Za-z0-9_./+,:=@-]+", word):
        quoted = word
    else:
        quoted = '"' + re.sub(r'(["`$\\])', r"\\\1", word) + '"'
    return quoted.replace("\\", "\\\\").replace("%", "%%")


def desktop_text(argv: list[str]) -> str:
    """The desktop entry (``data/pizauth.desktop``) for a ``pizauth`` run as ``argv``.

    Notifications name it in their ``desktop-entry`` hint: GNOME and KDE take the application's
    name and icon from it, and list it in their notification settings. It is hidden from menus.
    """
    exec_line = " ".join(_desktop_word(w) for w in [*argv, "server"])
    return f"""\
[Desktop Entry]
Type=Application
Name=pizauth
GenericName=OAuth2 Token Helper
Comment=Obtain and refresh OAuth2 tokens for mail programs
Exec={exec_line}
Icon=dialog-password
Terminal=false
NoDisplay=true
Categories=Network;Email;
Keywords=OAuth2;token;mail;IMAP;SMTP;
X-GNOME-UsesNotifications=true
"""


def installed_files() -> dict[Path, str]:
    """Every file ``install`` writes, with its contents."""
    argv = pizauth_argv()
    return {
        data_home() / "dbus-1" / "services" / SERVICE_NAME: service_text(argv),
        config_home() / "systemd" / "user" / UNIT_NAME: unit_text(argv),
        data_home() / "applications" / DESKTOP_NAME: desktop_text(argv),
    }


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


def tell_the_bus() -> str | None:
    """Ask the session bus to read its configuration and service files again (``ReloadConfig``,
    which both dbus-daemon and dbus-broker answer only once they have), so that what
    :func:`install` or :func:`uninstall` changed counts before this program exits.

    :returns: None when the bus has read them, else why it could not be asked.
    """
    from pizauth_dbus import blocking_calls
    from pizauth_dbus.busaddr import session_bus_address

    address, how = session_bus_address()
    if address is None:
        return f"no session bus ({how})"
    try:
        conn = blocking_calls.connect(address)
    except Exception as e:  # refused, bad address, authentication: all "no bus"
        return f"the session bus at {address} refuses: {e}"
    try:
        blocking_calls.call_daemon(conn, "ReloadConfig", timeout=RELOAD_TIMEOUT)
    except blocking_calls.BusError as e:
        return f"the session bus did not reload: {e.text}"
    finally:
        conn.close()
    return None
