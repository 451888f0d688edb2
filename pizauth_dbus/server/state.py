"""Token state: the single source of truth for every account's token.

Invariant (the one upstream pizauth relies on, kept here): every account carries a version stamp
that changes on *every* replacement of its token state and on every change to its configuration.
Slow work (a code exchange, a refresh, a hook) remembers the version before it awaits anything
and writes its result only through :meth:`Store.replace`, which refuses the write when the version
moved on. So a slow exchange can never overwrite a revoke, a reload or a newer authorisation.

All times are seconds on the boot-time clock (:func:`now`), which keeps counting through suspend.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import count

from pizauth_dbus.config.model import Account, Config
from pizauth_dbus.errors import UnknownAccountError
from pizauth_dbus.server.signals import Signal

_BOOT_CLOCK = getattr(time, "CLOCK_BOOTTIME", None)


def now() -> float:
    """Seconds on a clock that keeps running while the machine sleeps (CLOCK_BOOTTIME on Linux)."""
    if _BOOT_CLOCK is not None:
        return time.clock_gettime(_BOOT_CLOCK)
    return time.monotonic()


CLOCK_MAX = 2**63 - 1
"""The largest time upstream's clock can hold (signed 64-bit seconds); later times overflow."""


def expiry_after(t: float, expires_in: int, fallback: int) -> float:
    """When a token obtained at ``t`` and valid for ``expires_in`` seconds expires.

    A lifetime so long that the clock would overflow is replaced by ``fallback`` seconds (the
    account's ``refresh_at_least``), as upstream does.
    """
    if t + expires_in > CLOCK_MAX:
        return t + fallback
    return t + expires_in


def to_wall(t: float) -> float:
    """Convert a boot-clock time into a Unix time, relative to the current wall clock."""
    return time.time() - (now() - t)


def from_wall(t: float) -> float:
    """Convert a Unix time into a boot-clock time, relative to the current wall clock."""
    return now() - (time.time() - t)


@dataclass(frozen=True)
class Empty:
    """No token and no authorisation under way."""


@dataclass(frozen=True)
class Pending:
    """An authorisation URL has been made; waiting for the redirect.

    ``redirect_uri`` is the one in ``url`` (port included): the redirect must match it, and
    the code exchange must repeat it.
    """

    code_verifier: str
    state: str
    url: str
    redirect_uri: str
    last_notification: float | None = None


@dataclass(frozen=True)
class Active:
    """A token is held.

    ``ongoing_refresh`` is set while a refresh is in flight (so that no second one starts);
    ``consecutive_refresh_fails`` and ``last_refresh_attempt`` count transient failures and
    are reset by a successful refresh.
    """

    access_token: str
    obtained: float
    expiry: float
    refresh_token: str | None
    ongoing_refresh: bool = False
    consecutive_refresh_fails: int = 0
    last_refresh_attempt: float | None = None


@dataclass(frozen=True)
class DeviceWaiting:
    """A device code was issued (RFC 8628); waiting for the person to enter ``user_code`` at
    ``verification_uri``, while :mod:`pizauth_dbus.server.device_flow` polls the token endpoint.

    ``device_code`` is a secret, like a token: it goes to the token endpoint and nowhere else.
    ``expires`` is when the provider forgets the code (boot clock).
    """

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires: float
    last_notification: float | None = None

    @property
    def url(self) -> str:
        """The page to open: the one with the code filled in, when the provider gave it."""
        return self.verification_uri_complete or self.verification_uri


TokenState = Empty | Pending | DeviceWaiting | Active


def waiting_url(token: TokenState | None) -> str | None:
    """The URL a person must open for an account in this state, if it waits for one."""
    return token.url if isinstance(token, Pending | DeviceWaiting) else None


@dataclass(frozen=True)
class Entry:
    """One account's configuration, token state and version stamp, as one immutable value."""

    account: Account
    token: TokenState
    version: int


class Store:
    """Every account's :class:`Entry`, plus the config in force. Lives on the server's loop."""

    def __init__(self, config: Config) -> None:
        self._versions = count(1)
        self.config = config
        self._entries: dict[str, Entry] = {
            name: Entry(acct, Empty(), next(self._versions))
            for name, acct in config.accounts.items()
        }
        self.changed: Signal[str, Entry | None, Entry | None] = Signal("account changes")
        """Emitted as ``(name, old, new)`` after every new version (``None``: added/removed)."""
        self.reconfigured: Signal[Config, Config] = Signal("config changes")
        """Emitted as ``(old, new)`` after a new config is in force, after its account changes."""

    def names(self) -> list[str]:
        """Account names, sorted."""
        return sorted(self._entries)

    def __iter__(self) -> Iterator[tuple[str, Entry]]:
        return iter(list(self._entries.items()))

    def get(self, name: str) -> Entry:
        """The account's entry.

        :raises UnknownAccountError: when there is no such account.
        """
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownAccountError(name) from None

    def find(self, name: str) -> Entry | None:
        """The account's entry, or None when there is no such account."""
        return self._entries.get(name)

    def current(self, name: str, version: int) -> Entry | None:
        """The entry if its version is still ``version``, else ``None`` (the world moved on)."""
        entry = self._entries.get(name)
        if entry is None or entry.version != version:
            return None
        return entry

    def replace(self, name: str, version: int, token: TokenState) -> Entry | None:
        """Set the account's token state if its version is still ``version``.

        :returns: the new entry (with a new version), or ``None`` if the write was stale.
        """
        old = self.current(name, version)
        if old is None:
            return None
        new = Entry(old.account, token, next(self._versions))
        self._entries[name] = new
        self.changed.emit(name, old, new)
        return new

    def annotate(self, name: str, version: int, token: TokenState) -> Entry | None:
        """Like :meth:`replace` but keeps the version and emits nothing: for bookkeeping such as
        notification times.

        Used only for fields that no slow task depends on, so that e.g. the notifier recording
        when it last ran does not invalidate an exchange that is under way.
        """
        old = self.current(name, version)
        if old is None:
            return None
        new = Entry(old.account, token, version)
        self._entries[name] = new
        return new

    def find_pending(self, state: str) -> tuple[str, Entry] | None:
        """The account whose pending authorisation has this ``state`` parameter."""
        for name, entry in self._entries.items():
            if isinstance(entry.token, Pending) and entry.token.state == state:
                return name, entry
        return None

    def reconfigure(self, config: Config) -> None:
        """Swap in a new config, keeping the tokens of accounts whose security fields are unchanged.

        Changed and new accounts start Empty with a new version; removed ones are dropped.
        Accounts whose refresh timings alone changed keep their token and version.
        """
        old_entries, old_config = self._entries, self.config
        new_entries: dict[str, Entry] = {}
        for name, acct in config.accounts.items():
            old = old_entries.get(name)
            if old is not None and old.account.security_fields() == acct.security_fields():
                new_entries[name] = replace(old, account=acct)
            else:
                new_entries[name] = Entry(acct, Empty(), next(self._versions))
        self.config = config
        self._entries = new_entries
        for name in sorted(set(old_entries) | set(new_entries)):
            old_e, new_e = old_entries.get(name), new_entries.get(name)
            if old_e != new_e:
                self.changed.emit(name, old_e, new_e)
        self.reconfigured.emit(old_config, config)

    def restore(self, name: str, token: Active) -> Entry:
        """Put a restored token in place with a fresh version (caller has checked the rules)."""
        old = self._entries[name]
        new = Entry(old.account, token, next(self._versions))
        self._entries[name] = new
        self.changed.emit(name, old, new)
        return new


WALL_MAX = 2.0**53
"""Later Unix times cannot be shown as dates (nor sent as exact integers); status says so."""

StatusRow = tuple[str, str, dict[str, int]]
"""``(account, state, times)``: state is ``empty``, ``pending``, ``active`` or ``expired``;
``device`` (waiting for a device code to be entered) is a pizauth-dbus addition; times are
whole Unix seconds, present only when known."""


def status_rows(store: Store) -> list[StatusRow]:
    """Every account's state for ``status``, sorted by name, as the bus sends it."""
    rows: list[StatusRow] = []
    t = now()
    for name in store.names():
        tok = store.get(name).token
        match tok:
            case Empty():
                rows.append((name, "empty", {}))
            case Pending(last_notification=ln):
                rows.append((name, "pending", _times(last_notification=ln)))
            case DeviceWaiting(last_notification=ln):
                rows.append((name, "device", _times(last_notification=ln, code_expiry=tok.expires)))
            case Active() if tok.expiry > t:
                rows.append((name, "active", _times(obtained=tok.obtained, expiry=tok.expiry)))
            case Active():
                times = _times(
                    obtained=tok.obtained,
                    expiry=tok.expiry,
                    last_refresh_attempt=tok.last_refresh_attempt,
                )
                rows.append((name, "expired", times))
    return rows


def _times(**times: float | None) -> dict[str, int]:
    """Boot-clock times as whole Unix seconds, leaving out those absent or not showable."""
    out: dict[str, int] = {}
    for key, t in times.items():
        if t is not None and 0 < (wall := to_wall(t)) < WALL_MAX:
            out[key] = int(wall)
    return out
