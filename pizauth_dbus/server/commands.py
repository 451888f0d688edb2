"""What each command means on the server: show, refresh, revoke, reload, status, dump, restore,
info, shutdown, and pizauth-dbus's complete and errors.

A facade over the duties (the store, the authorisation flow, the refresher, the reminders, the
token events); the D-Bus interface calls it, and ``server.serve`` builds it. It never prints:
results go back to the caller, diagnostics to the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from pizauth_dbus.config.loader import load
from pizauth_dbus.config.model import Account
from pizauth_dbus.errors import (
    AuthorisationPendingError,
    DeviceCodePendingError,
    TokenExpiredError,
    WaitEndedError,
)
from pizauth_dbus.server.authorisation import Authoriser
from pizauth_dbus.server.device_flow import DeviceFlow
from pizauth_dbus.server.events import Eventer, TokenEvent
from pizauth_dbus.server.listeners import RedirectListeners
from pizauth_dbus.server.refresher import Refresher
from pizauth_dbus.server.reminders import Reminders
from pizauth_dbus.server.state import (
    Active,
    DeviceWaiting,
    Empty,
    Entry,
    Pending,
    StatusRow,
    Store,
    from_wall,
    now,
    status_rows,
    to_wall,
)
from pizauth_dbus.server.waiters import Waiters

if TYPE_CHECKING:  # cryptography is imported only when there is an HTTPS listener
    from pizauth_dbus.server.tls import Certificate

log = logging.getLogger(__name__)

EXPIRED_REFRESHING = "Access token has expired. Refreshing is in progress but has not yet succeeded"
EXPIRED_INITIATED = "Access token has expired. Refreshing initiated"


class Commands:
    """The server's answers to its clients.

    :param config_path: the file ``reload`` reads again.
    :param certificate: the HTTPS listener's, when that listener is on.
    """

    def __init__(
        self,
        *,
        store: Store,
        authoriser: Authoriser,
        device: DeviceFlow,
        refresher: Refresher,
        reminders: Reminders,
        events: Eventer,
        listeners: RedirectListeners,
        certificate: Certificate | None,
        config_path: str,
        keyring_times: Callable[[str], dict[str, int]] = lambda name: {},
        network_times: Callable[[str], dict[str, int]] = lambda name: {},
    ) -> None:
        self.store = store
        self._authoriser = authoriser
        self._device = device
        self._refresher = refresher
        self._reminders = reminders
        self._events = events
        self._listeners = listeners
        self._certificate = certificate
        self.config_path = config_path
        self._keyring_times = keyring_times
        self._network_times = network_times
        self.stopping = asyncio.Event()
        """Set by :meth:`shutdown`; the server stops when it is."""
        self._reloading = asyncio.Lock()
        self.waiters = Waiters(self._authorise_if_needed)
        """The pending ``wait_for_token`` calls; ``server.serve`` connects them to the store."""

    async def show(self, name: str) -> str:
        """The account's access token.

        Only an account that signs in with a device code and has none waits here, for the
        provider to issue one (bounded: :data:`~pizauth_dbus.timing.DEVICE_REQUEST_TIMEOUT`).

        :raises UnknownAccountError, AuthorisationPendingError, TokenExpiredError:
        :raises DeviceAuthorisationError: when the provider issues no device code.
        """
        entry = self.store.get(name)
        match entry.token:
            case Empty():
                raise await self._new_authorisation(name, entry)
            case Pending(url=url):
                raise AuthorisationPendingError(url)
            case DeviceWaiting() as waiting:
                raise DeviceCodePendingError(waiting.verification_uri, waiting.user_code)
            case Active(expiry=expiry, access_token=token) if expiry > now():
                return token
            case Active(ongoing_refresh=True):
                raise TokenExpiredError(EXPIRED_REFRESHING)
            case _:
                self._refresher.refresh_now(name)
                raise TokenExpiredError(EXPIRED_INITIATED)

    async def complete(self, name: str, url: str) -> None:
        """Finish the account's pending sign-in with the address the browser ended on.

        :raises UnknownAccountError, CompletionError, AuthorisationFailedError:
        """
        await self._authoriser.complete(name, self.store.get(name), url.strip())

    def errors(self) -> list[tuple[str, str, str]]:
        """``(account, message, hint)``: each account's last failure since its last token."""
        return self._authoriser.problems.rows()

    def usable_token(self, name: str) -> str | None:
        """The account's access token if :meth:`show` would return it now, else None (an
        unknown account included): the bus's synchronous fast path."""
        entry = self.store.find(name)
        tok = entry.token if entry is not None else None
        return tok.access_token if isinstance(tok, Active) and tok.expiry > now() else None

    async def wait_for_token(self, name: str, timeout: float) -> str:
        """The account's token as soon as there is one, waiting up to ``timeout`` seconds.

        Starts the authorisation (or the refresh) as :meth:`show` does; on timeout, fails as
        :meth:`show` would then.

        :raises UnknownAccountError, AuthorisationPendingError, TokenExpiredError,
            WaitEndedError:
        """
        try:
            return await self.show(name)
        except (AuthorisationPendingError, TokenExpiredError):
            if timeout <= 0:
                raise
        token = await self.waiters.wait(name, timeout)
        return token if token is not None else await self.show(name)

    async def _authorise_if_needed(self, name: str) -> None:
        """Start an authorisation for an account left with none while someone waits for it."""
        with contextlib.suppress(AuthorisationPendingError, TokenExpiredError):
            await self.show(name)

    async def refresh(self, name: str) -> None:
        """Refresh an Active token now; start (or restart) authorisation otherwise.

        :raises UnknownAccountError, AuthorisationPendingError, DeviceAuthorisationError:
        """
        entry = self.store.get(name)
        if isinstance(entry.token, Active):
            self._refresher.refresh_now(name)
            return
        raise await self._new_authorisation(name, entry)

    async def _new_authorisation(self, name: str, entry: Entry) -> AuthorisationPendingError:
        """A new URL, or a new device code for an account that uses them, as the error that
        says what to do with it."""
        if entry.account.device_auth_uri is not None:
            waiting = await self._device.start(name, entry)
            return DeviceCodePendingError(waiting.verification_uri, waiting.user_code)
        return AuthorisationPendingError(self._authoriser.new_pending(name, entry).url)

    def revoke(self, name: str) -> None:
        """Forget the account's token (locally); ``token_revoked`` is emitted even if it had none.

        :raises UnknownAccountError:
        """
        entry = self.store.get(name)
        self.waiters.revoked(name)  # first: an emptied account would otherwise be re-authorised
        self.store.replace(name, entry.version, Empty())
        self._events.put(name, TokenEvent.REVOKED)

    async def reload(self) -> None:
        """Re-read the config file the server started with; on error nothing changes.

        The file is read and parsed in a worker thread, so that a large or pathological file
        never holds up the loop (``show`` goes on answering meanwhile); reloads run one at a
        time, so they apply in the order they were asked for.

        :raises ConfigError:
        """
        async with self._reloading:
            new = await asyncio.to_thread(load, self.config_path)
            for warning in new.warnings:
                log.warning("%s", warning)
            self.store.reconfigure(new)
            self._refresher.wake()
            self._reminders.wake()
            log.info("Configuration reloaded from %s", self.config_path)

    def status(self) -> list[StatusRow]:
        """Every account's state, sorted by name (a valid config always has an account), with
        the keyring's times for the accounts it keeps, and since when an account has been
        waiting for the network."""
        return [
            (n, st, {**t, **self._keyring_times(n), **self._network_times(n)})
            for n, st, t in status_rows(self.store)
        ]

    def dump(self) -> bytes:
        """Every account's token (Active ones; Pending counts as none), in the dump envelope."""
        from pizauth_dbus.server.dump import DumpedToken, encode

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
        from pizauth_dbus.server.dump import decode

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
        self._refresher.wake()
        self._reminders.wake()

    def info(self) -> dict[str, str]:
        """The listeners' ports and the HTTPS certificate's identity, as strings."""
        http, https = self._listeners.http_port, self._listeners.https_port
        info = {"http_port": str(http or "none"), "https_port": str(https or "none")}
        if self._certificate is not None and https is not None:
            info["https_pub_key"] = self._certificate.public_key_hex
            info["https_cert_sha256"] = self._certificate.sha256_fingerprint
        return info

    def shutdown(self) -> None:
        """Ask the server to stop; it does once the current reply has gone."""
        self.waiters.fail_all(WaitEndedError("The server stopped while waiting for a token"))
        self.stopping.set()
