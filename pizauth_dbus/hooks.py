"""Running the user's shell hooks: ``$SHELL -c <cmd>`` with extra variables and a time limit.

Upstream's rules: the environment is inherited plus the hook's own variables, a hook that runs
past its limit is killed with SIGKILL, and the error texts below are what the log shows.
"""

from __future__ import annotations

import asyncio
import logging
import os

log = logging.getLogger(__name__)

NOTIFY_TIMEOUT = 10.0
"""auth_notify_cmd, error_notify_cmd and token_event_cmd each get 10 s (upstream)."""
TRANSIENT_TIMEOUT = 180.0
"""transient_error_if_cmd may take 3 minutes, e.g. to wait for a network to come back."""


class HookError(Exception):
    """A hook could not be run, failed, or ran out of time; the text is upstream's."""


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
        )
    except OSError as e:
        raise HookError(f"Couldn't execute '{cmd}': {e}") from None
    try:
        code = await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise HookError(f"'{cmd}' exceeded timeout") from None
    except asyncio.CancelledError:
        # The server is shutting down: don't leave the hook behind as an orphan.
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if code != 0:
        raise HookError(f"'{cmd}' returned {code}")


async def run_logged(
    what: str, cmd: str | None, env: dict[str, str], timeout: float | None
) -> bool:
    """Run a hook if it is set, logging any failure instead of raising.

    :returns: True when the hook was set and succeeded.
    """
    if cmd is None:
        return False
    try:
        await run_hook(cmd, env, timeout)
    except HookError as e:
        log.error("%s: %s", what, e)
        return False
    return True
