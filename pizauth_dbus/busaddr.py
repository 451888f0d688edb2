"""Finding the session bus as libdbus, GLib and sd-bus do, for the CLI and the server alike.

``DBUS_SESSION_BUS_ADDRESS`` when it is set and not empty; otherwise the per-user bus socket
``$XDG_RUNTIME_DIR/bus`` when it exists, is a socket and belongs to us (what a systemd user
session or ``dbus-broker`` provides). Callers started from cron, a systemd timer or an
``env -i`` wrapper often have only ``XDG_RUNTIME_DIR``; without the fallback they would be told
that no server runs while ``gdbus`` reaches it fine.

Imported by ``pizauth show``: os and stat only.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping

ADDRESS_VARIABLE = "DBUS_SESSION_BUS_ADDRESS"
RUNTIME_BUS = "$XDG_RUNTIME_DIR/bus"

# Bytes a D-Bus address value may carry unescaped (the specification's "optionally escaped").
_PLAIN = frozenset(b"-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_/.\\*")


def escape_value(value: str) -> str:
    """``value`` escaped for a D-Bus address (``%XX`` for every byte outside the safe set)."""
    return "".join(chr(b) if b in _PLAIN else f"%{b:02x}" for b in os.fsencode(value))


def session_bus_address(environ: Mapping[str, str] | None = None) -> tuple[str | None, str]:
    """The session bus's address and how it was found.

    :param environ: the environment to read; this process's by default.
    :returns: ``(address, source)`` where source is :data:`ADDRESS_VARIABLE` or
        :data:`RUNTIME_BUS`; or ``(None, reason)`` when there is no bus to find.
    """
    env = os.environ if environ is None else environ
    address = env.get(ADDRESS_VARIABLE)
    if address:
        return address, ADDRESS_VARIABLE
    runtime = env.get("XDG_RUNTIME_DIR")
    if not runtime:
        return None, f"{ADDRESS_VARIABLE} and XDG_RUNTIME_DIR are both unset"
    path = os.path.join(runtime, "bus")
    try:
        st = os.stat(path)
    except OSError:
        return None, f"{ADDRESS_VARIABLE} is unset and {path} does not exist"
    # libdbus accepts the socket only if it is ours: anyone else's could impersonate services.
    if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.getuid():
        return None, f"{ADDRESS_VARIABLE} is unset and {path} is not a socket of this user's"
    return f"unix:path={escape_value(path)}", RUNTIME_BUS


def export_session_bus_address() -> str | None:
    """Put the discovered address into this process's environment when it was not there.

    The server calls this once at start, so that every library it uses (dbus-fast,
    desktop-notifier) and every hook it runs (which may call ``pizauth`` or ``notify-send``)
    reaches the same bus without each looking for it.

    :returns: the address, or None when no bus was found.
    """
    address, source = session_bus_address()
    if address is not None and source != ADDRESS_VARIABLE:
        os.environ[ADDRESS_VARIABLE] = address
    return address
