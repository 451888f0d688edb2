"""The typed configuration the rest of the program reads: :class:`Config`, :class:`Account`,
the upstream defaults and which account fields a token is bound to.

Only data lives here; :mod:`pizauth_dbus.config.checker` builds these values from a parsed file and
:mod:`pizauth_dbus.config.loader` is the entry point (``parse``/``load``) that re-exports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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
    """One ``account "name" { ... }`` block with every default and inherited value resolved.

    ``auth_uri`` is empty for an account that left it out because it has ``device_auth_uri``:
    such an account signs in with the device authorization grant (RFC 8628) only.
    """

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
    device_auth_uri: str | None = None

    def security_fields(self) -> dict[str, object]:
        """The :data:`SECURITY_FIELDS` by name: what a token is only good for."""
        return {name: getattr(self, name) for name in SECURITY_FIELDS}


SECURITY_FIELDS = (
    "auth_uri",
    "auth_uri_fields",
    "client_id",
    "client_secret",
    "device_auth_uri",
    "redirect_uri",
    "scopes",
    "token_uri",
)
"""The account fields whose change invalidates its token: a reload that changes one drops the
token, and a dump is restored only into an account whose values are all the same."""
ADDED_SECURITY_FIELDS = ("device_auth_uri",)
"""Security fields that dumps made before they existed lack: there, they were unset (None)."""


@dataclass(frozen=True)
class Config:
    """A whole, validated pizauth.conf. Times are whole seconds.

    ``accounts`` is in file order and must be treated as read-only. The three ``refresh_*``
    fields are the global values (already applied to every account that does not set its own).
    ``warnings`` are printable notes about deprecated but accepted constructs.
    """

    accounts: Mapping[str, Account] = field(default_factory=dict)
    allowed_apps: tuple[str, ...] = ()  # pizauth-dbus addition: sandboxed apps that may ask
    auth_notify_cmd: str | None = None
    auth_notify_interval: int = AUTH_NOTIFY_INTERVAL_DEFAULT
    desktop_notifications: bool = True  # pizauth-dbus addition: native notifications on/off
    error_notify_cmd: str | None = None
    http_listen: str | None = LISTEN_DEFAULT  # None: `http_listen = none;`
    https_listen: str | None = LISTEN_DEFAULT  # None: `https_listen = none;`
    startup_cmd: str | None = None
    token_event_cmd: str | None = None
    token_store: str = "memory"  # pizauth-dbus addition: "memory" or "keyring"
    transient_error_if_cmd: str | None = None
    refresh_at_least: int = REFRESH_AT_LEAST_DEFAULT
    refresh_before_expiry: int = REFRESH_BEFORE_EXPIRY_DEFAULT
    refresh_retry: int = REFRESH_RETRY_DEFAULT
    warnings: tuple[str, ...] = field(default=(), compare=False)
