"""Waiting for a token: what ``pizauth show -w`` and the D-Bus ``WaitForToken`` rest on.

Each waiting call is a future, grouped by account, resolved by the store's changes: the first
usable token answers every waiter of the account at once, so twenty waiters need one sign-in.
Nothing polls and no thread is held: a waiting bus call is a coroutine awaiting its future,
and the other bus callers are served meanwhile.

A wait ends early, with the matching error, when the account is revoked
(:class:`~pizauth_dbus.errors.WaitEndedError`), removed by a reload
(:class:`~pizauth_dbus.errors.UnknownAccountError`), its authorisation fails (the provider's
message) or the server stops. When the account falls back to no token for another reason (a
permanent refresh failure, a reload that changed its settings), a new authorisation is
started, as ``show`` would, and the wait goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pizauth_dbus.errors import PizauthError, UnknownAccountError, WaitEndedError
from pizauth_dbus.server.state import Active, Empty, Entry, now
from pizauth_dbus.server.tasks import Tasks


class Waiters:
    """The pending waits, by account.

    :param restart: starts a new authorisation for an account that has none (``show``'s way,
        notifications included); called only while someone waits for that account.
    """

    def __init__(self, restart: Callable[[str], Awaitable[None]]) -> None:
        self._restart = restart
        self._waiting: dict[str, set[asyncio.Future[str]]] = {}
        self._tasks = Tasks()

    async def stop(self) -> None:
        """Cancel authorisations being started for waiters (the server is stopping)."""
        await self._tasks.stop()

    def __len__(self) -> int:
        return sum(len(f) for f in self._waiting.values())

    async def wait(self, name: str, timeout: float) -> str | None:
        """The account's next usable token, or None once ``timeout`` seconds have passed.

        :raises PizauthError: when the wait is ended early (see the module's text).
        """
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(name, set()).add(fut)
        try:
            async with asyncio.timeout(timeout):
                return await fut
        except TimeoutError:
            return None
        finally:
            futs = self._waiting.get(name)
            if futs is not None:
                futs.discard(fut)
                if not futs:
                    del self._waiting[name]

    def fail(self, name: str, error: PizauthError) -> None:
        """End every wait for ``name`` with ``error``."""
        for fut in self._waiting.pop(name, set()):
            if not fut.done():
                fut.set_exception(error)

    def fail_all(self, error: PizauthError) -> None:
        """End every wait (the server is stopping)."""
        for name in list(self._waiting):
            self.fail(name, error)

    def revoked(self, name: str) -> None:
        self.fail(name, WaitEndedError(f"The token of '{name}' was revoked while waiting"))

    def auth_failed(self, name: str, message: str, hint: str = "") -> None:
        self.fail(name, WaitEndedError(message))

    def account_changed(self, name: str, old: Entry | None, new: Entry | None) -> None:
        if name not in self._waiting:
            return
        if new is None:
            self.fail(name, UnknownAccountError(name))
        elif isinstance(new.token, Active) and new.token.expiry > now():
            for fut in self._waiting.pop(name):
                if not fut.done():
                    fut.set_result(new.token.access_token)
        elif isinstance(new.token, Empty):
            # Later, not now: a failed authorisation empties the account just before it says
            # why (auth_failed), and that must end the wait rather than start another sign-in.
            asyncio.get_running_loop().call_soon(self._restart_if_waiting, name)

    def _restart_if_waiting(self, name: str) -> None:
        if name in self._waiting:
            self._tasks.spawn(self._restart_for(name), name=f"re-authorise {name}")

    async def _restart_for(self, name: str) -> None:
        try:
            await self._restart(name)
        except PizauthError as e:  # e.g. the provider issues no device code: say so
            self.fail(name, e)
