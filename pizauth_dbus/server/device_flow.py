"""The device authorization grant's duty (RFC 8628): device codes, and polling for the token.

This module owns an account's :class:`~pizauth_dbus.server.state.DeviceWaiting` state, for
accounts with ``device_auth_uri`` (the requests themselves are :mod:`pizauth_dbus.oauth.device`'s):
asking the provider for a device code (the client id, the secret as
the other token requests send it, the scopes), then polling the token endpoint until the person
has entered the code on any device. It polls at the provider's ``interval`` (5 s when it names
none), 5 s more after every ``slow_down``, twice as long after a transport failure, and keeps
going on ``authorization_pending``. ``access_denied`` and every other refusal end the attempt
and are reported as a failed redirect is (:meth:`Authoriser.report`); ``expired_token``, or the
code's ``expires_in`` passing, end it quietly, and the next ``show`` asks for a new code.

Polling stops as soon as the account changes under it (a revoke, a reload that removes or
changes it, a new code, a restored token: :meth:`DeviceFlow.account_changed`) and when the
server stops. Every write goes through the version stamp, as elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from pizauth_dbus.errors import DeviceAuthorisationError
from pizauth_dbus.oauth import protocol as oauth
from pizauth_dbus.oauth.device import Wait, poll_token, request_device_code
from pizauth_dbus.oauth.httpclient import Sessions
from pizauth_dbus.server.authorisation import Authoriser
from pizauth_dbus.server.events import Eventer, TokenEvent
from pizauth_dbus.server.state import Active, DeviceWaiting, Empty, Entry, Store, expiry_after, now
from pizauth_dbus.server.tasks import Tasks
from pizauth_dbus.timing import (
    DEVICE_BACKOFF_MAX,
    DEVICE_INTERVAL,
    DEVICE_INTERVAL_MIN,
    DEVICE_SLOW_DOWN,
)

log = logging.getLogger(__name__)


class DeviceFlow:
    """Device codes for the accounts that use them, and their pollers (one per account).

    ``server.serve`` connects :meth:`account_changed` to ``Store.changed``.

    :param http: the server's HTTP sessions, one per provider (see HttpClient).
    :param authoriser: reports failed attempts (log, ``error_notify_cmd``, desktop).
    """

    def __init__(
        self,
        store: Store,
        events: Eventer,
        http: Sessions,
        authoriser: Authoriser,
        wait_online: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self._wait_online = wait_online
        self._events = events
        self._http = http
        self._authoriser = authoriser
        self._tasks = Tasks()
        # (account, version) -> the request under way for that version: two `show`s at once
        # share one device code instead of each replacing the other's.
        self._requests: dict[tuple[str, int], asyncio.Task[DeviceWaiting]] = {}
        # account -> (version of its DeviceWaiting entry, the task polling for it)
        self._pollers: dict[str, tuple[int, asyncio.Task[None]]] = {}

    async def stop(self) -> None:
        """Abandon requests and polling under way."""
        await self._tasks.stop()

    async def start(self, name: str, entry: Entry) -> DeviceWaiting:
        """A new device code for the account, replacing any it waits with, and its poller.

        :raises DeviceAuthorisationError: when the provider issues none; nothing changes then.
        """
        key = (name, entry.version)
        task = self._requests.get(key)
        if task is None:
            task = self._tasks.spawn(self._request(name, entry), name=f"device code {name}")
            self._requests[key] = task
            task.add_done_callback(lambda _: self._requests.pop(key, None))
        # Shielded: a caller that goes away must not cancel what other callers wait for.
        return await asyncio.shield(task)

    def account_changed(self, name: str, old: Entry | None, new: Entry | None) -> None:
        """Stop polling for an account that no longer waits with the code being polled for."""
        poller = self._pollers.get(name)
        if poller is not None and (new is None or new.version != poller[0]):
            del self._pollers[name]
            poller[1].cancel()
            log.info("Stopped polling for %s's device code", name)

    async def _request(self, name: str, entry: Entry) -> DeviceWaiting:
        try:
            code = await request_device_code(
                self._http(entry.account.device_auth_uri or ""), entry.account
            )
        except Exception as e:
            if not isinstance(e, oauth.OAuthError):
                log.debug("The device code request for %s failed unexpectedly", name, exc_info=True)
                e = oauth.OAuthError(f"internal error ({type(e).__name__})")
            message = f"Can't get a device code for {name}: {e}"
            log.error("%s", message)
            self._authoriser.problems.note(entry.account, message, "device")
            raise DeviceAuthorisationError(message) from None
        cur = self._store.current(name, entry.version)
        if cur is None:
            raise DeviceAuthorisationError(
                f"{name} changed while a device code was being requested: try again"
            )
        waiting = DeviceWaiting(
            code.device_code,
            code.user_code,
            code.verification_uri,
            code.verification_uri_complete,
            now() + code.expires_in,
        )
        new = self._store.replace(name, cur.version, waiting)
        assert new is not None  # same version: nothing ran in between
        interval = DEVICE_INTERVAL if code.interval is None else code.interval
        poll = self._poll(name, new.version, max(DEVICE_INTERVAL_MIN, interval))
        self._pollers[name] = (new.version, self._tasks.spawn(poll, name=f"device poll {name}"))
        log.info("Device code for %s issued: to be entered at %s", name, code.verification_uri)
        return waiting

    def _finish(self, name: str, version: int, token: Empty | Active) -> bool:
        """End this poller's attempt with ``token``; False when the account moved on."""
        if self._pollers.get(name, (None,))[0] == version:
            del self._pollers[name]  # so that the change below does not cancel us
        return self._store.replace(name, version, token) is not None

    async def _poll(self, name: str, version: int, interval: float) -> None:
        while True:
            cur = self._store.current(name, version)
            if cur is None:
                return
            waiting = cur.token
            assert isinstance(waiting, DeviceWaiting)
            left = waiting.expires - now()
            if left <= 0:
                if self._finish(name, version, Empty()):
                    log.info("The device code for %s expired unused", name)
                return
            await asyncio.sleep(min(interval, left))
            if self._wait_online is not None:
                # Offline, polling is held (it could only fail) until the network is back.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, waiting.expires - now())):
                        await self._wait_online()
            cur = self._store.current(name, version)
            if cur is None or waiting.expires <= now():
                continue  # gone (the loop returns), or expired (the loop says so)
            try:
                answer = await poll_token(
                    self._http(cur.account.token_uri), cur.account, waiting.device_code
                )
            except Exception as e:
                if not isinstance(e, oauth.OAuthError):
                    log.debug("Polling for %s failed unexpectedly", name, exc_info=True)
                    e = oauth.OAuthError(f"internal error ({type(e).__name__})")
                if self._finish(name, version, Empty()):
                    self._authoriser.report(
                        name, f"Authentication for {name} failed: {e}", "device"
                    )
                return
            match answer:
                case Wait.PENDING:
                    pass
                case Wait.SLOW_DOWN:
                    interval += DEVICE_SLOW_DOWN
                    log.info("Polling for %s every %g s, as the provider asks", name, interval)
                case Wait.TRANSIENT:
                    interval = min(interval * 2, max(interval, DEVICE_BACKOFF_MAX))
                case Wait.EXPIRED:
                    if self._finish(name, version, Empty()):
                        log.info("The device code for %s expired unused", name)
                    return
                case oauth.TokenResponse() as resp:
                    cur = self._store.current(name, version)
                    if cur is None:
                        log.info("Discarding a token for %s: the account changed", name)
                        return
                    t = now()
                    rt = (
                        None
                        if isinstance(resp.refresh_token, oauth.Missing)
                        else resp.refresh_token
                    )
                    expiry = expiry_after(t, resp.expires_in, cur.account.refresh_at_least)
                    if self._finish(name, version, Active(resp.access_token, t, expiry, rt)):
                        log.info("New token for %s", name)
                        self._events.put(name, TokenEvent.NEW)
                    return
