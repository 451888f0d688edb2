"""The authorisation flow: from a new authorisation URL to the first token.

This module owns an account's Pending state: making a request (state, PKCE verifier, URL with
the listener's redirect URI), what a redirect does to it (a provider's error empties the
account; a code is exchanged), the code exchange itself and its de-duplication, and reporting
failures (the log, ``error_notify_cmd`` and :attr:`Authoriser.auth_failed`, which the desktop
notifications listen to). The redirect listeners call it through
:class:`~pizauth_dbus.server.redirects.RedirectTarget`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

from pizauth_dbus import urls
from pizauth_dbus.errors import AuthorisationFailedError, CompletionError
from pizauth_dbus.oauth import protocol as oauth
from pizauth_dbus.oauth.httpclient import Sessions
from pizauth_dbus.server.events import Eventer, TokenEvent
from pizauth_dbus.server.hooks import run_logged
from pizauth_dbus.server.problems import Problems
from pizauth_dbus.server.signals import Signal
from pizauth_dbus.server.state import Active, Empty, Entry, Pending, Store, expiry_after, now
from pizauth_dbus.server.tasks import Tasks
from pizauth_dbus.timing import NOTIFY_TIMEOUT

log = logging.getLogger(__name__)

MAX_COMPLETE_PAIRS = 64
"""A redirect has a handful of parameters; a pasted URL with more is not one (the listener's
own limit, for the same reason)."""

Ports = Callable[[], tuple[int | None, int | None]]
"""The HTTP and HTTPS redirect listeners' ports, ``None`` for one that is off."""


class Authoriser:
    """Pending authorisations and their outcome.

    :param http: the server's HTTP sessions, one per provider (see HttpClient).
    :param ports: where the redirect listeners listen (known once they are bound).
    """

    def __init__(
        self,
        store: Store,
        events: Eventer,
        http: Sessions,
        ports: Ports,
        problems: Problems | None = None,
    ) -> None:
        self.store = store
        self.problems = Problems() if problems is None else problems
        self._events = events
        self._http = http
        self._ports = ports
        self._tasks = Tasks()
        # (account, version) of every code exchange under way: a browser that asks for the
        # redirect page twice must not make us spend the same code twice (the second use would
        # fail, and some providers then revoke what the first one obtained).
        self._exchanging: set[tuple[str, int]] = set()
        self.auth_failed: Signal[str, str, str] = Signal("authorisation failures")
        """Emitted as ``(account, message, hint)`` for every failed authorisation; the hint
        (:mod:`pizauth_dbus.config.hints`) is empty when no known cause explains it."""

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

    def authorisation_failed(self, name: str, entry: Entry, error: str, description: str) -> str:
        """The provider redirected with an ``error``: the account goes back to Empty.

        :returns: what the person is told: upstream's message, then the provider's
            ``error_description`` (which ``$PIZAUTH_MSG`` leaves out, as upstream's does).
        """
        message = f"Authentication for {name} failed: {error}"
        if self.store.replace(name, entry.version, Empty()) is not None:
            self.report(name, message, detail=description)
        return _described(message, description)

    def code_received(self, name: str, entry: Entry, code: str) -> asyncio.Task[str | None] | None:
        """The provider redirected with a code: exchange it in the background, once.

        :returns: the exchange, whose result is the failure's message (None for a token);
            None when this account's code is being exchanged already.
        """
        key = (name, entry.version)
        if key in self._exchanging:
            log.info("Ignoring a repeated redirect for %s: its code is being exchanged", name)
            return None
        self._exchanging.add(key)
        return self._tasks.spawn(self._exchange(name, entry, code), name=f"exchange {name}")

    async def complete(self, name: str, entry: Entry, url: str) -> None:
        """Finish the account's sign-in with the address the browser ended on (``pizauth
        complete``): the same checks as a redirect to the listener (the pending ``state``, the
        redirect URI, a code used once, PKCE), then the exchange, awaited.

        :raises CompletionError: for a URL that cannot finish this sign-in; nothing changes.
        :raises AuthorisationFailedError: when the provider refused (its error in the URL, or
            the exchange failed); the account is empty again, as after a redirect.
        """
        pending = entry.token
        if not isinstance(pending, Pending):
            raise CompletionError(
                f"No sign-in is waiting for '{name}' (a URL's code works once): "
                f"run pizauth show {name} for a new URL"
            )
        try:
            pairs = urls.query_pairs(url, MAX_COMPLETE_PAIRS)
        except ValueError:
            pairs = None
        if pairs is None or not urls.is_web_url(url):
            raise CompletionError(
                "Not a URL: paste the whole address the browser ended on, from http to its end"
            )
        state = next((v for k, v in pairs if k == "state"), None)
        if state is None:
            raise CompletionError(
                "The URL has no 'state': paste the whole address the browser ended on"
            )
        if not secrets.compare_digest(state.encode(), pending.state.encode()):
            raise CompletionError(
                f"The URL's state is not that of the sign-in waiting for '{name}' (a link "
                f"from an earlier pizauth show?): open the URL pizauth show {name} prints now"
            )
        if not urls.redirect_matches(pending.redirect_uri, url):
            raise CompletionError(
                f"The URL does not lead to this sign-in's redirect address "
                f"{pending.redirect_uri}: paste the address the browser ended on"
            )
        error = next((v for k, v in pairs if k == "error"), None)
        if error is not None:
            detail = next((v for k, v in pairs if k == "error_description"), "")
            raise AuthorisationFailedError(self.authorisation_failed(name, entry, error, detail))
        code = next((v for k, v in pairs if k == "code"), None)
        if not code:
            raise CompletionError("The URL has no 'code': the sign-in was not finished")
        task = self.code_received(name, entry, code)
        if task is None:
            raise CompletionError(f"The code for '{name}' is being exchanged already")
        failure = await asyncio.shield(task)
        if failure is not None:
            raise AuthorisationFailedError(failure)

    def report(self, name: str, message: str, flow: str = "redirect", detail: str = "") -> None:
        """Tell of a failed authorisation: the log, the desktop, ``error_notify_cmd``, each
        with the hint when a known cause explains it (``flow``: ``"redirect"`` or
        ``"device"``). ``$PIZAUTH_MSG`` is upstream's ``message`` alone, which scripts match;
        the provider's ``detail`` (a redirect's ``error_description``) follows it in the log
        and on the desktop, and is ``$PIZAUTH_ERROR_DESCRIPTION``; ``$PIZAUTH_HINT`` the hint.
        """
        full = _described(message, detail)
        # Logged even without error_notify_cmd: upstream's man page promises it, its code doesn't.
        log.error("%s", full)
        entry = self.store.find(name)
        hint = "" if entry is None else self.problems.note(entry.account, full, flow)
        self.auth_failed.emit(name, full, hint)
        env = {
            "PIZAUTH_ACCOUNT": name,
            "PIZAUTH_MSG": message,
            "PIZAUTH_ERROR_DESCRIPTION": detail,
            "PIZAUTH_HINT": hint,
        }
        self._tasks.spawn(
            run_logged("error_notify_cmd", self.store.config.error_notify_cmd, env, NOTIFY_TIMEOUT)
        )

    async def _exchange(self, name: str, entry: Entry, code: str) -> str | None:
        pending = entry.token
        assert isinstance(pending, Pending)
        try:
            resp = await oauth.exchange_code(
                self._http(entry.account.token_uri),
                entry.account,
                code,
                pending.code_verifier,
                pending.redirect_uri,
            )
        except Exception as e:
            # Whatever went wrong (a provider's answer no parser expects included), the
            # person must hear of it and get a new URL: never a Pending account left behind
            # a page that said "received".
            if not isinstance(e, oauth.OAuthError):
                log.debug("The exchange for %s failed unexpectedly", name, exc_info=True)
                e = oauth.OAuthError(f"internal error ({type(e).__name__})")
            cur = self.store.current(name, entry.version)
            message = f"Authentication for {name} failed: {e}"
            if cur is not None and self.store.replace(name, cur.version, Empty()) is not None:
                self.report(name, message)
            else:
                log.info("Ignoring a failed exchange for %s: the account changed meanwhile", name)
            return message
        finally:
            self._exchanging.discard((name, entry.version))
        cur = self.store.current(name, entry.version)
        if cur is None:
            log.info("Discarding a token for %s: the account changed meanwhile", name)
            return f"{name} changed while its sign-in was being completed: the token was dropped"
        t = now()
        rt = None if isinstance(resp.refresh_token, oauth.Missing) else resp.refresh_token
        expiry = expiry_after(t, resp.expires_in, cur.account.refresh_at_least)
        self.store.replace(name, cur.version, Active(resp.access_token, t, expiry, rt))
        log.info("New token for %s", name)
        self._events.put(name, TokenEvent.NEW)
        return None


def _described(message: str, description: str) -> str:
    """``message`` followed by the provider's description of the error, if it gave one."""
    return f"{message} ({description})" if description else message
