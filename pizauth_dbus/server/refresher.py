"""The refresher: keeps Active tokens fresh ahead of expiry, and classifies refresh failures.

When: ``min(expiry - refresh_before_expiry, obtained + refresh_at_least)``, but never sooner
than half the token's lifetime (see :func:`refresh_due_at`), or after a failure
``last_refresh_attempt + refresh_retry`` (at least
:data:`~pizauth_dbus.timing.REFRESH_RETRY_MIN`). What a failure does follows upstream:
transient ones (network trouble, HTTP 408/429/5xx) keep the token and retry; every sixth in a
row asks ``transient_error_if_cmd`` whether to keep trying; permanent ones empty the account
and emit ``token_invalidated``. Every write goes through the version stamp (see :mod:`.state`), so a
refresh that finishes after a revoke or a reload changes nothing.

Laptops: after a resume, or when the network comes back, :meth:`Refresher.kick` refreshes at
once every account that is expired, inside ``refresh_before_expiry`` or waiting to retry, and
for :data:`~pizauth_dbus.timing.RESUME_WINDOW` retries failures after a few seconds instead of
``refresh_retry``. While the network monitor says offline, failures are retried more slowly
and neither they nor those of the resume window count towards ``transient_error_if_cmd``.
The loop sleeps until the next refresh is due and no longer: a resume wakes it (asyncio's
timers stop while the machine sleeps).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from pizauth_dbus.oauth import protocol as oauth
from pizauth_dbus.oauth.httpclient import Sessions
from pizauth_dbus.server.events import Eventer, TokenEvent
from pizauth_dbus.server.hooks import HookError, run_hook
from pizauth_dbus.server.problems import Problems
from pizauth_dbus.server.state import Active, Empty, Entry, Store, expiry_after, now
from pizauth_dbus.server.tasks import LoopDuty, wait_woken
from pizauth_dbus.timing import (
    MIN_REFRESH_GAP,
    OFFLINE_RETRY,
    REFRESH_RETRY_MIN,
    RESUME_RETRY,
    RESUME_WINDOW,
    TRANSIENT_TIMEOUT,
)

log = logging.getLogger(__name__)

TRANSIENT_CHECK_EVERY = 6
"""Ask transient_error_if_cmd after every this many transient failures in a row."""


def refresh_due_at(entry: Entry, retry: float | None = None) -> float | None:
    """When the account's token should next be refreshed.

    Upstream's rule, ``min(expiry - refresh_before_expiry, obtained + refresh_at_least)``, with
    a floor: never sooner after the token was obtained than half its lifetime (or
    :data:`~pizauth_dbus.timing.MIN_REFRESH_GAP`, if the token lives that long). Without the
    floor, a token whose lifetime is at or below ``refresh_before_expiry`` (90 s by default) is
    due again the moment it arrives, and the server refreshes in a hot loop.

    After a failed attempt, ``refresh_retry`` later, but never sooner than
    :data:`~pizauth_dbus.timing.REFRESH_RETRY_MIN`: ``refresh_retry = 0s;`` would otherwise
    retry in a hot loop, as upstream does.

    :param retry: seconds after a failed attempt; the account's ``refresh_retry`` by default.
    :returns: ``None`` when the account is not Active or a refresh is already in flight.
    """
    tok, acct = entry.token, entry.account
    if not isinstance(tok, Active) or tok.ongoing_refresh:
        return None
    if tok.last_refresh_attempt is not None:
        gap = acct.refresh_retry if retry is None else retry
        return tok.last_refresh_attempt + max(gap, REFRESH_RETRY_MIN)
    lifetime = max(0.0, tok.expiry - tok.obtained)
    gap = min(MIN_REFRESH_GAP, lifetime)
    before_expiry = max(
        tok.expiry - acct.refresh_before_expiry, tok.obtained + max(lifetime / 2, gap)
    )
    return min(before_expiry, tok.obtained + max(acct.refresh_at_least, gap))


class Refresher(LoopDuty):
    """The background task that starts refreshes when they are due.

    :param http: the server's HTTP sessions, one per provider (see HttpClient).
    :param offline: whether the network monitor says the machine is offline.
    """

    duty_name = "refresher"

    def __init__(
        self,
        store: Store,
        events: Eventer,
        http: Sessions,
        offline: Callable[[], bool] = lambda: False,
        problems: Problems | None = None,
    ) -> None:
        self._store = store
        self._problems = Problems() if problems is None else problems
        self._events = events
        self._http = http
        self._offline = offline
        self._wake = asyncio.Event()
        super().__init__()
        self._urgent_until = float("-inf")

    def wake(self) -> None:
        """Recompute the next refresh time now (a token arrived, a config changed, ...)."""
        self._wake.set()

    def kick(self) -> None:
        """After a resume or the network's return: refresh at once what is expired, close to
        expiry or waiting to retry, and retry soon for a while (see the module docstring).
        While offline, nothing: the network's return kicks again."""
        if self._offline():
            return
        t = now()
        self._urgent_until = t + RESUME_WINDOW
        for name, entry in self._store:
            tok, acct = entry.token, entry.account
            if not isinstance(tok, Active) or tok.ongoing_refresh:
                continue
            due = refresh_due_at(entry)
            if (
                tok.last_refresh_attempt is not None
                or t >= tok.expiry - acct.refresh_before_expiry
                or (due is not None and due <= t)
            ):
                self.refresh_now(name)
        self.wake()

    def _retry_gap(self, refresh_retry: float, t: float) -> float:
        if self._offline():
            return max(refresh_retry, OFFLINE_RETRY)
        if t < self._urgent_until:
            return min(refresh_retry, RESUME_RETRY)
        return refresh_retry

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            t = now()
            # With no token to refresh there is nothing to wake for (as upstream): a new token,
            # a finished refresh or a reload wakes the loop, and an idle laptop stays asleep.
            next_at: float | None = None
            for name, entry in self._store:
                due = refresh_due_at(entry, self._retry_gap(entry.account.refresh_retry, t))
                if due is None:
                    continue
                if due <= t:
                    self.refresh_now(name)
                else:
                    next_at = due if next_at is None else min(next_at, due)
            if next_at is not None and t < self._urgent_until < next_at:
                next_at = self._urgent_until  # the retry gap changes then
            await wait_woken(self._wake, None if next_at is None else max(0.0, next_at - now()))

    def refresh_now(self, name: str) -> bool:
        """Start a refresh of ``name`` unless it is not Active or one is already under way.

        The state changes before this returns (in flight, or Empty when there is no refresh
        token), so a second call at once, from the loop or from ``show``, does nothing.
        """
        store = self._store
        entry = store.get(name)
        tok = entry.token
        if not isinstance(tok, Active) or tok.ongoing_refresh:
            return False
        if tok.refresh_token is None:
            # Nothing to refresh with: quietly start over (no event, no notification), as
            # upstream does; the next `show` begins a new authorisation.
            log.info("No refresh token for %s: the token is dropped", name)
            store.replace(name, entry.version, Empty())
            return False
        started = store.replace(
            name, entry.version, replace(tok, ongoing_refresh=True, last_refresh_attempt=now())
        )
        assert started is not None  # same version: nothing could run in between
        self._tasks.spawn(self._refresh(name, started, tok.refresh_token), name=f"refresh {name}")
        return True

    async def _refresh(self, name: str, started: Entry, token: str) -> None:
        store = self._store
        try:
            resp = await oauth.refresh_token(
                self._http(started.account.token_uri), started.account, token
            )
        except oauth.OAuthError as e:
            await self._failed(name, started, e)
        except Exception:  # a bug must not leave the account "refreshing" for ever
            log.exception("Refreshing %s failed unexpectedly", name)
            await self._failed(name, started, oauth.OAuthError("internal error", transient=True))
        else:
            cur = store.current(name, started.version)
            if cur is None or not isinstance(cur.token, Active):
                log.info("Discarding a refreshed token for %s: the account changed", name)
                return
            rt = resp.refresh_token
            if isinstance(rt, oauth.Missing):  # no key: keep the refresh token we have
                rt = cur.token.refresh_token
            t = now()
            expiry = expiry_after(t, resp.expires_in, cur.account.refresh_at_least)
            store.replace(name, cur.version, Active(resp.access_token, t, expiry, rt))
            log.info("Refreshed token for %s", name)
            self._events.put(name, TokenEvent.REFRESHED)
        finally:
            self.wake()

    async def _failed(self, name: str, started: Entry, err: oauth.OAuthError) -> None:
        store = self._store
        cur = store.current(name, started.version)
        if cur is None or not isinstance(cur.token, Active):
            log.info("Ignoring a failed refresh for %s: the account changed (%s)", name, err)
            return
        if not err.transient:
            log.info("Permanent refresh error for %s: %s", name, err)
            # The hint (a refresh token dead after 90 days unused, or 7 days in Google's
            # Testing) is logged at error level: it asks the person to do something.
            self._problems.note(cur.account, f"Refreshing {name} failed: {err}", "refresh")
            self._invalidate(name, cur)
            return
        # Offline, or just after a resume, failing is expected: it must not count towards
        # the hook, which would otherwise run (and may end the token) for a closed lid.
        failed_at = now()  # as upstream: the attempt's time, not the hook's end
        counted = not self._offline() and failed_at >= self._urgent_until
        if counted:
            log.info("Transitory refresh error for %s: %s", name, err)
        else:
            log.info("Transitory refresh error for %s (waiting for the network): %s", name, err)
        fails = cur.token.consecutive_refresh_fails + counted
        cmd = store.config.transient_error_if_cmd
        if counted and fails % TRANSIENT_CHECK_EVERY == 0 and cmd is not None:
            # The refresh stays "in flight" while the hook decides, so no other one starts.
            try:
                await run_hook(cmd, {"PIZAUTH_ACCOUNT": name}, TRANSIENT_TIMEOUT)
            except HookError as e:
                cur = store.current(name, started.version)
                if cur is not None:
                    log.error("Permanent refresh error for %s: %s", name, e)
                    self._invalidate(name, cur)
                return
            cur = store.current(name, started.version)
            if cur is None:
                return
        tok = cur.token
        assert isinstance(tok, Active)
        store.replace(
            name,
            cur.version,
            replace(
                tok,
                ongoing_refresh=False,
                consecutive_refresh_fails=fails,
                last_refresh_attempt=failed_at,
            ),
        )

    def _invalidate(self, name: str, cur: Entry) -> None:
        if self._store.replace(name, cur.version, Empty()) is not None:
            self._events.put(name, TokenEvent.INVALIDATED)
