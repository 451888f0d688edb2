"""The authorisation flow: from a new authorisation URL to the first token.

This module owns an account's Pending state: making a request (state, PKCE verifier, URL with
the listener's redirect URI), what a redirect does to it (a provider's error empties the
account; a code is exchanged), the code exchange itself and its de-duplication, and reporting
failures (the log, ``error_notify_cmd`` and :attr:`Authoriser.auth_failed`, which the desktop
notifications listen to). The redirect listeners call it through
:class:`~pizauth_dbus.server.redirects.RedirectTarget`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from pizauth_dbus.oauth import protocol as oauth
from pizauth_dbus.server.events import Eventer, TokenEvent
from pizauth_dbus.server.hooks import run_logged
from pizauth_dbus.server.signals import Signal
from pizauth_dbus.server.state import Active, Empty, Entry, Pending, Store, expiry_after, now
from pizauth_dbus.server.tasks import Tasks
from pizauth_dbus.timing import NOTIFY_TIMEOUT

if TYPE_CHECKING:  # aiohttp is imported only once an HTTP request is made
    import aiohttp

log = logging.getLogger(__name__)

Ports = Callable[[], tuple[int | None, int | None]]
"""The HTTP and HTTPS redirect listeners' ports, ``None`` for one that is off."""


class Authoriser:
    """Pending authorisations and their outcome.

    :param http: the server's HTTP client session.
    :param ports: where the redirect listeners listen (known once they are bound).
    """

    def __init__(
        self,
        store: Store,
        events: Eventer,
        http: Callable[[], aiohttp.ClientSession],
        ports: Ports,
    ) -> None:
        self.store = store
        self._events = events
        self._http = http
        self._ports = ports
        self._tasks = Tasks()
        # (account, version) of every code exchange under way: a browser that asks for the
        # redirect page twice must not make us spend the same code twice (the second use would
        # fail, and some providers then revoke what the first one obtained).
        self._exchanging: set[tuple[str, int]] = set()
        self.auth_failed: Signal[str, str] = Signal("authorisation failures")
        """Emitted as ``(account, message)`` for every failed authorisation."""

    async def stop(self) -> None:
        """Abandon exchanges under way and kill running ``error_notify_cmd`` hooks."""
        await self._tasks.stop()

    def new_pending(self, name: str, entry: Entry) -> Pending:
        """Start a new authorisation for the account (any earlier URL stops working)."""
        http_port, https_port = self._ports()
        redirect = oauth.redirect_uri_with_port(entry.account, http_port, https_port)
        req = oauth.new_auth_request(entry.account, redirect)
        pending = Pending(req.code_verifier, req.state, req.url, req.redirect_uri)
        self.store.replace(name, entry.version, pending)
        log.debug("New authorisation request for %s, redirect to %s", name, req.redirect_uri)
        return pending

    def authorisation_failed(self, name: str, entry: Entry, message: str) -> None:
        """The provider redirected with an ``error``: the account goes back to Empty."""
        if self.store.replace(name, entry.version, Empty()) is not None:
            self.report(name, message)

    def code_received(self, name: str, entry: Entry, code: str) -> None:
        """The provider redirected with a code: exchange it in the background, once."""
        key = (name, entry.version)
        if key in self._exchanging:
            log.info("Ignoring a repeated redirect for %s: its code is being exchanged", name)
            return
        self._exchanging.add(key)
        self._tasks.spawn(self._exchange(name, entry, code), name=f"exchange {name}")

    def report(self, name: str, message: str) -> None:
        """Tell of a failed authorisation: the log, the desktop, ``error_notify_cmd``."""
        # Logged even without error_notify_cmd: upstream's man page promises it, its code doesn't.
        log.error("%s", message)
        self.auth_failed.emit(name, message)
        self._tasks.spawn(
            run_logged(
                "error_notify_cmd",
                self.store.config.error_notify_cmd,
                {"PIZAUTH_ACCOUNT": name, "PIZAUTH_MSG": message},
                NOTIFY_TIMEOUT,
            )
        )

    async def _exchange(self, name: str, entry: Entry, code: str) -> None:
        pending = entry.token
        assert isinstance(pending, Pending)
        try:
            resp = await oauth.exchange_code(
                self._http(), entry.account, code, pending.code_verifier, pending.redirect_uri
            )
        except Exception as e:
            # Whatever went wrong (a provider's answer no parser expects included), the
            # person must hear of it and get a new URL: never a Pending account left behind
            # a page that said "received".
            if not isinstance(e, oauth.OAuthError):
                log.debug("The exchange for %s failed unexpectedly", name, exc_info=True)
                e = oauth.OAuthError(f"internal error ({type(e).__name__})")
            cur = self.store.current(name, entry.version)
            if cur is not None and self.store.replace(name, cur.version, Empty()) is not None:
                self.report(name, f"Authentication for {name} failed: {e}")
            else:
                log.info("Ignoring a failed exchange for %s: the account changed meanwhile", name)
            return
        finally:
            self._exchanging.discard((name, entry.version))
        cur = self.store.current(name, entry.version)
        if cur is None:
            log.info("Discarding a token for %s: the account changed meanwhile", name)
            return
        t = now()
        rt = None if isinstance(resp.refresh_token, oauth.Missing) else resp.refresh_token
        expiry = expiry_after(t, resp.expires_in, cur.account.refresh_at_least)
        self.store.replace(name, cur.version, Active(resp.access_token, t, expiry, rt))
        log.info("New token for %s", name)
        self._events.put(name, TokenEvent.NEW)
