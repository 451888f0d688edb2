"""The server: owns the token store and carries out every command on one asyncio loop.

This module ties the duties together (listeners, refresher, notifier, eventer, bus) and holds
the commands' server-side meaning (show, refresh, revoke, reload, status, info, restore, dump,
shutdown). It never prints: results go back to the bus, diagnostics to the log.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from pizauth_dbus import oauth
from pizauth_dbus.config import Account, Config, load
from pizauth_dbus.errors import (
    AuthorisationPendingError,
    NoAccountsError,
    TokenExpiredError,
)
from pizauth_dbus.events import Eventer, TokenEvent
from pizauth_dbus.hooks import NOTIFY_TIMEOUT, run_logged
from pizauth_dbus.listener import Listeners
from pizauth_dbus.notify import Notifier
from pizauth_dbus.refresher import Refresher
from pizauth_dbus.state import (
    Active,
    Empty,
    Entry,
    Pending,
    Store,
    expiry_after,
    from_wall,
    now,
    to_wall,
)
from pizauth_dbus.tls import Certificate, make_certificate

log = logging.getLogger(__name__)

EXPIRED_REFRESHING = "Access token has expired. Refreshing is in progress but has not yet succeeded"
EXPIRED_INITIATED = "Access token has expired. Refreshing initiated"
WALL_MAX = 2.0**53
"""Later Unix times cannot be shown as dates (nor sent as exact integers); status says so."""


@dataclass(frozen=True)
class AccountStatus:
    """One account's state for ``status``, with times as Unix times (0 when absent)."""

    name: str
    state: str  # "empty", "pending", "active" or "expired"
    last_notification: float = 0.0
    obtained: float = 0.0
    expiry: float = 0.0
    last_refresh_attempt: float = 0.0


class Daemon:
    """The running server's state and duties."""

    def __init__(self, config: Config, config_path: str) -> None:
        self.config_path = config_path
        self.store = Store(config)
        self.events = Eventer(lambda: self.store.config.token_event_cmd)
        self.refresher = Refresher(self)
        self.notifier = Notifier(self.store)
        self.listeners = Listeners(self)
        self.certificate: Certificate | None = None
        self.stopping = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._jobs: set[asyncio.Task[Any]] = set()
        # (account, version) of every code exchange under way: a browser that asks for the
        # redirect page twice must not make us spend the same code twice (the second use would
        # fail, and some providers then revoke what the first one obtained).
        self._exchanging: set[tuple[str, int]] = set()
        self.auth_error_sinks: list[Callable[[str, str], None]] = []
        """Each is called as ``sink(account, message)`` for every authorisation error."""
        self.store.subscribe(self._on_change)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the listeners and start the background duties.

        :raises OSError: when a listener cannot be bound.
        """
        cfg = self.store.config
        if cfg.https_listen is not None:
            self.certificate = make_certificate()
        await self.listeners.start(
            cfg.http_listen,
            cfg.https_listen,
            self.certificate.context if self.certificate else None,
        )
        self.events.start()
        self.refresher.start()
        self.notifier.start()

    def run_startup_cmd(self) -> None:
        """Run ``startup_cmd`` in the background, once, with no time limit (upstream)."""
        cmd = self.store.config.startup_cmd
        if cmd is not None:
            self._spawn(run_logged("startup_cmd", cmd, {}, None))

    async def stop(self) -> None:
        """Close the listeners, stop every duty (killing running hooks), close the HTTP client."""
        await self.listeners.stop()
        jobs = list(self._jobs)
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        await self.refresher.stop()
        await self.notifier.stop()
        await self.events.stop()
        if self._session is not None:
            await self._session.close()

    def install_signal_handlers(self) -> None:
        """SIGHUP reloads (upstream's README promises it, its code dies); SIGTERM and SIGINT
        stop cleanly instead of killing the process on the spot."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self._reload_logged)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.shutdown)

    def _reload_logged(self) -> None:
        try:
            self.reload()
        except Exception as e:
            log.error("Reload on SIGHUP failed: %s", e)

    def shutdown(self) -> None:
        """Ask the server to stop; :meth:`stop` then runs from the main coroutine."""
        self.stopping.set()

    def http(self) -> aiohttp.ClientSession:
        """The one HTTP client session, made on first use (it needs the running loop)."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    def _spawn(self, coro: Any) -> None:
        job = asyncio.get_running_loop().create_task(coro)
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    def _on_change(self, name: str, old: Entry | None, new: Entry | None) -> None:
        # Any change may move the next refresh or announcement; recomputing is cheap.
        if new is not None and isinstance(new.token, Active):
            self.refresher.wake()
        if new is not None and isinstance(new.token, Pending):
            self.notifier.wake()

    # -- authorisation ------------------------------------------------------------------

    def _new_pending(self, name: str, entry: Entry) -> Pending:
        redirect = oauth.redirect_uri_with_port(
            entry.account, self.listeners.http_port, self.listeners.https_port
        )
        req = oauth.new_auth_request(entry.account, redirect)
        pending = Pending(req.code_verifier, req.state, req.url, req.redirect_uri)
        self.store.replace(name, entry.version, pending)
        log.debug("New authorisation request for %s, redirect to %s", name, req.redirect_uri)
        return pending

    def authorisation_failed(self, name: str, entry: Entry, message: str) -> None:
        if self.store.replace(name, entry.version, Empty()) is not None:
            self._report_auth_error(name, message)

    def _report_auth_error(self, name: str, message: str) -> None:
        # Logged even without error_notify_cmd: upstream's man page promises it, its code doesn't.
        log.error("%s", message)
        for sink in self.auth_error_sinks:
            try:
                sink(name, message)
            except Exception:  # a sink's failure must not stop error_notify_cmd
                log.exception("authorisation error sink failed")
        self._spawn(
            run_logged(
                "error_notify_cmd",
                self.store.config.error_notify_cmd,
                {"PIZAUTH_ACCOUNT": name, "PIZAUTH_MSG": message},
                NOTIFY_TIMEOUT,
            )
        )

    def code_received(self, name: str, entry: Entry, code: str) -> None:
        key = (name, entry.version)
        if key in self._exchanging:
            log.info("Ignoring a repeated redirect for %s: its code is being exchanged", name)
            return
        self._exchanging.add(key)
        self._spawn(self._exchange(name, entry, code))

    async def _exchange(self, name: str, entry: Entry, code: str) -> None:
        pending = entry.token
        assert isinstance(pending, Pending)
        try:
            resp = await oauth.exchange_code(
                self.http(), entry.account, code, pending.code_verifier, pending.redirect_uri
            )
        except oauth.OAuthError as e:
            cur = self.store.current(name, entry.version)
            if cur is not None and self.store.replace(name, cur.version, Empty()) is not None:
                self._report_auth_error(name, f"Authentication for {name} failed: {e}")
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
        self.events.put(name, TokenEvent.NEW)

    # -- commands -----------------------------------------------------------------------

    def show(self, name: str) -> str:
        """The account's access token.

        :raises UnknownAccountError, AuthorisationPendingError, TokenExpiredError:
        """
        entry = self.store.get(name)
        match entry.token:
            case Empty():
                raise AuthorisationPendingError(self._new_pending(name, entry).url)
            case Pending(url=url):
                raise AuthorisationPendingError(url)
            case Active(expiry=expiry, access_token=token) if expiry > now():
                return token
            case Active(ongoing_refresh=True):
                raise TokenExpiredError(EXPIRED_REFRESHING)
            case _:
                self.refresher.refresh_now(name)
                raise TokenExpiredError(EXPIRED_INITIATED)

    def refresh(self, name: str) -> None:
        """Refresh an Active token now; start (or restart) authorisation otherwise.

        :raises UnknownAccountError, AuthorisationPendingError:
        """
        entry = self.store.get(name)
        if isinstance(entry.token, Active):
            self.refresher.refresh_now(name)
            return
        raise AuthorisationPendingError(self._new_pending(name, entry).url)

    def revoke(self, name: str) -> None:
        """Forget the account's token (locally); ``token_revoked`` is emitted even if it had none.

        :raises UnknownAccountError:
        """
        entry = self.store.get(name)
        self.store.replace(name, entry.version, Empty())
        self.events.put(name, TokenEvent.REVOKED)

    def reload(self) -> None:
        """Re-read the config file the server started with; on error nothing changes.

        :raises ConfigError:
        """
        new = load(self.config_path)
        for warning in new.warnings:
            log.warning("%s", warning)
        self.store.reconfigure(new)
        self.refresher.wake()
        self.notifier.wake()
        log.info("Configuration reloaded from %s", self.config_path)

    def status(self) -> list[AccountStatus]:
        """Every account's state, sorted by name.

        :raises NoAccountsError:
        """
        out: list[AccountStatus] = []
        t = now()
        for name in self.store.names():
            tok = self.store.get(name).token
            match tok:
                case Empty():
                    out.append(AccountStatus(name, "empty"))
                case Pending(last_notification=ln):
                    out.append(AccountStatus(name, "pending", last_notification=_wall_or_zero(ln)))
                case Active() if tok.expiry > t:
                    out.append(
                        AccountStatus(
                            name,
                            "active",
                            obtained=_wall_or_zero(tok.obtained),
                            expiry=_wall_or_zero(tok.expiry),
                        )
                    )
                case Active():
                    out.append(
                        AccountStatus(
                            name,
                            "expired",
                            obtained=_wall_or_zero(tok.obtained),
                            expiry=_wall_or_zero(tok.expiry),
                            last_refresh_attempt=_wall_or_zero(tok.last_refresh_attempt),
                        )
                    )
        if not out:
            raise NoAccountsError()
        return out

    def dump(self) -> bytes:
        """Every account's token (Active ones; Pending counts as none), in the dump envelope."""
        from pizauth_dbus.dump import DumpedToken, encode

        accounts: list[tuple[Account, DumpedToken | None]] = []
        for _, entry in self.store:
            tok = entry.token
            dumped = None
            if isinstance(tok, Active):
                dumped = DumpedToken(
                    tok.access_token, to_wall(tok.obtained), to_wall(tok.expiry), tok.refresh_token
                )
            accounts.append((entry.account, dumped))
        return encode(accounts)

    def restore(self, data: bytes) -> None:
        """Adopt dumped tokens for accounts that have none and whose security config matches.

        The whole dump is checked before anything changes; no token events are emitted.

        :raises RestoreError:
        """
        from pizauth_dbus.dump import decode

        dumped = decode(data)
        for name, entry in self.store:
            d = dumped.get(name)
            if (
                d is None
                or d.token is None
                or isinstance(entry.token, Active)
                or d.security_fields != entry.account.security_fields()
            ):
                continue
            t = d.token
            self.store.restore(
                name,
                Active(t.access_token, from_wall(t.obtained), from_wall(t.expiry), t.refresh_token),
            )
        self.refresher.wake()
        self.notifier.wake()

    def info(self) -> dict[str, str]:
        """The listeners' ports and the HTTPS certificate's identity, as strings."""
        info = {
            "http_port": str(self.listeners.http_port or "none"),
            "https_port": str(self.listeners.https_port or "none"),
        }
        if self.certificate is not None and self.listeners.https_port is not None:
            info["https_pub_key"] = self.certificate.public_key_hex
            info["https_cert_sha256"] = self.certificate.sha256_fingerprint
        return info


def _wall_or_zero(t: float | None) -> float:
    """``t`` as a Unix time; 0 (shown as ``<unknown time>``) when absent or not showable."""
    if t is None:
        return 0.0
    wall = to_wall(t)
    return wall if 0 < wall < WALL_MAX else 0.0
