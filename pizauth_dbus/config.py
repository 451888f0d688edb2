"""The pizauth.conf language: grammar, validation and the frozen, typed result.

(Skeleton: the data model below is the contract the rest of the program uses. The parser is
being written against upstream-spec.md section 3.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pizauth_dbus.errors import ConfigError

AUTH_NOTIFY_INTERVAL_DEFAULT = 15 * 60
"""Seconds between repeated reminders for the same pending account (upstream default)."""
REFRESH_AT_LEAST_DEFAULT = 90 * 60
"""Refresh a token at the latest this many seconds after it was obtained (upstream default)."""
REFRESH_BEFORE_EXPIRY_DEFAULT = 90
"""Refresh this many seconds before expiry (upstream default)."""
REFRESH_RETRY_DEFAULT = 40
"""Seconds between retries after a transient refresh error (upstream default)."""
LISTEN_DEFAULT = "127.0.0.1:0"
"""Both redirect listeners bind a random loopback port unless told otherwise."""
REDIRECT_URI_DEFAULT = "http://localhost/"

RESERVED_AUTH_URI_KEYS = (
    "access_type",
    "client_id",
    "code_challenge",
    "code_challenge_method",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
)


@dataclass(frozen=True)
class Account:
    """One ``account "name" { ... }`` block with every default and inherited value resolved."""

    name: str
    auth_uri: str
    token_uri: str
    client_id: str
    client_secret: str | None = None
    scopes: tuple[str, ...] = ()
    # Ordered, duplicates kept; a deprecated ``login_hint`` is appended as ("login_hint", v).
    auth_uri_fields: tuple[tuple[str, str], ...] = ()
    redirect_uri: str = REDIRECT_URI_DEFAULT
    refresh_at_least: int = REFRESH_AT_LEAST_DEFAULT
    refresh_before_expiry: int = REFRESH_BEFORE_EXPIRY_DEFAULT
    refresh_retry: int = REFRESH_RETRY_DEFAULT

    def security_fields(self) -> tuple[object, ...]:
        """The seven fields whose change invalidates a token (reload, restore)."""
        return (
            self.auth_uri,
            self.auth_uri_fields,
            self.client_id,
            self.client_secret,
            self.redirect_uri,
            self.scopes,
            self.token_uri,
        )


@dataclass(frozen=True)
class Config:
    """A whole, validated pizauth.conf. Times are whole seconds."""

    accounts: Mapping[str, Account] = field(default_factory=dict)
    auth_notify_cmd: str | None = None
    auth_notify_interval: int = AUTH_NOTIFY_INTERVAL_DEFAULT
    error_notify_cmd: str | None = None
    http_listen: str | None = LISTEN_DEFAULT  # None: `http_listen = none;`
    https_listen: str | None = LISTEN_DEFAULT  # None: `https_listen = none;`
    startup_cmd: str | None = None
    token_event_cmd: str | None = None
    transient_error_if_cmd: str | None = None


def parse(text: str) -> Config:
    """Parse and validate a whole config file's text.

    :raises ConfigError: with the complete, printable message (line, column, source, caret).
    """
    raise ConfigError("config parser not written yet")


def load(path: str) -> Config:
    """Read and parse the config at ``path`` (already resolved by :mod:`pizauth_dbus.paths`)."""
    from pizauth_dbus.paths import read_config_text

    return parse(read_config_text(path))
