"""Running the user's shell hooks: ``$SHELL -c <cmd>`` with extra variables and a time limit.

Upstream's rules: the environment is inherited plus the hook's own variables, a hook that runs
past its limit is killed with SIGKILL, and the error texts below are what the log shows. A hook
runs in a process group of its own, so that "killed" covers whatever it started too (a
``curl`` inside a pipeline would otherwise outlive the shell that ran it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

from pizauth_dbus.errors import error_text

log = logging.getLogger(__name__)


class HookError(Exception):
    """A hook could not be run, failed, or ran out of time; the text is upstream's."""


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    # The hook leads its own group (process_group=0 below), so its pid names the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


async def run_hook(cmd: str, env: dict[str, str], timeout: float | None) -> None:
    """Run ``cmd`` through ``$SHELL -c`` and wait for it.

    :param env: variables added to the server's environment.
    :param timeout: seconds before the hook is killed; ``None`` for no limit.
    :raises HookError: on a spawn failure, a non-zero exit or a timeout.
    """
    shell = os.environ.get("SHELL")
    if not shell:
        raise HookError("environment variable not found")
    try:
        proc = await asyncio.create_subprocess_exec(
            shell,
            "-c",
            cmd,
            env={**os.environ, **env},
            stdin=asyncio.subprocess.DEVNULL,
            process_group=0,
        )
    except OSError as e:
        raise HookError(f"Couldn't execute '{cmd}': {error_text(e)}") from None
    try:
        # asyncio.timeout, not wait_for: see pizauth_dbus.server.tasks.wait_woken.
        async with asyncio.timeout(timeout):
            code = await proc.wait()
    except TimeoutError:
        _kill_group(proc)
        await proc.wait()
        raise HookError(f"'{cmd}' exceeded timeout") from None
    except asyncio.CancelledError:
        # The server is shutting down: don't leave the hook behind as an orphan.
        _kill_group(proc)
        if proc.returncode is None:
            await proc.wait()
        raise
    if code != 0:
        # A negative code is asyncio's way of saying a signal ended it: no exit code exists.
        raise HookError(f"'{cmd}' returned {code if code > 0 else '<Unknown exit code>'}")


async def run_logged(
    what: str, cmd: str | None, env: dict[str, str], timeout: float | None
) -> bool:
    """Run a hook if it is set, logging any failure (at error level) instead of raising.

    The error line is upstream's text alone (it names the command); which option the command
    came from is logged at debug level.

    :param what: the option that set ``cmd``, e.g. ``"auth_notify_cmd"``.
    :returns: True when the hook was set and succeeded.
    """
    if cmd is None:
        return False
    log.debug("Running %s", what)
    try:
        await run_hook(cmd, env, timeout)
    except HookError as e:
        log.error("%s", e)
        return False
    return True
