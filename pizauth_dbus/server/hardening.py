"""Keeping the server's memory to itself: no core files, and no reading by other processes.

Called first thing in ``pizauth server``, before the configuration (client secrets) or any
token is in memory. ``PR_SET_DUMPABLE`` 0 makes the kernel refuse other processes of the same
user ``/proc/PID/mem``, ``ptrace`` (debuggers, ``gcore``) and the like, and write no core file
on a crash; ``RLIMIT_CORE`` 0 is the belt to those braces. Neither stops root, or a debugger
started by root: pizauth(1) says so.
"""

from __future__ import annotations

import ctypes
import logging
import resource

from pizauth_dbus.errors import error_text

log = logging.getLogger(__name__)

PR_SET_DUMPABLE = 4
"""From <linux/prctl.h>."""


def harden_process() -> None:
    """No core files and not dumpable; a failure is logged once, never fatal (not Linux?)."""
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (OSError, ValueError) as e:
        log.warning("Cannot turn off core files: %s", error_text(e))
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")
    except (OSError, AttributeError) as e:
        log.warning("Cannot keep other processes out of the server's memory: %s", error_text(e))
