"""``pizauth-dbus``: the program for setting pizauth up rather than using it: ``install`` and
``uninstall`` (:mod:`pizauth_dbus.cli.install`), ``doctor`` (:mod:`pizauth_dbus.doctor`) and
the ``new-account`` assistant (:mod:`pizauth_dbus.cli.newaccount`).

Short-lived and blocking like ``pizauth``; each command's module is imported only when it runs.
"""

from __future__ import annotations

import os
import sys

from pizauth_dbus.errors import error_text

USAGE = """\
Usage:
  {pn} install
  {pn} uninstall
  {pn} doctor [-c <config-path>] [--json] [--online]
  {pn} new-account [-c <config-path>] [options] (see pizauth-dbus(1))
"""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pizauth-dbus`` command."""
    argv = list(sys.argv if argv is None else argv)
    pn = os.path.basename(argv[0]) if argv else "pizauth-dbus"
    if len(argv) >= 2 and argv[1] == "doctor":
        from pizauth_dbus.doctor import checklist as doctor

        return doctor.main(pn, argv[2:])
    if len(argv) >= 2 and argv[1] == "new-account":
        from pizauth_dbus.cli import newaccount

        return newaccount.main(pn, argv[2:])
    if len(argv) != 2 or argv[1] not in ("install", "uninstall"):
        sys.stderr.write(USAGE.format(pn=pn))
        return 1
    from pizauth_dbus.cli.install import install, tell_the_bus, uninstall

    try:
        paths = install() if argv[1] == "install" else uninstall()
    except OSError as e:
        sys.stderr.write(f"ERROR - {error_text(e)}\n")
        return 1
    verb = "wrote" if argv[1] == "install" else "removed"
    for p in paths:
        print(f"{verb} {p}")
    problem = tell_the_bus()
    if problem is None:
        print("the session bus has read its service files again")
    else:
        # Not an error: the files are in place, and a session started later reads them.
        print(f"note: {problem}; a session bus started from now on reads the files itself")
    return 0
