"""Every error pizauth-dbus reports to a person or a bus caller.

Each user-visible failure has one class; its ``dbus_name`` is the D-Bus error name a bus caller
sees and its ``str()`` is the upstream-compatible message the CLI prints after ``ERROR - ``.
Nothing here imports anything heavy: the CLI may import this module. It also owns how an
operating system error is worded wherever one reaches a person or the log
(:func:`error_text`).
"""

from __future__ import annotations

import os
import sys

ERROR_PREFIX = "org.pizauth.Error."


def error_text(e: BaseException) -> str:
    """An error as a person reads it: an OS error as upstream words it, ``Address already in
    use (os error 98)``, rather than Python's ``[Errno 98] Address already in use``. Every
    message that may carry an OS error goes through here, so the log and the terminal read
    one way.

    A name lookup's error reads as upstream's (``failed to lookup address information: ...``);
    other errors, and OS errors that are not the system's (no errno, or a text of their own,
    as TLS errors have), keep their words; an error without words is named by its type.
    """
    if not isinstance(e, OSError):
        return str(e) or type(e).__name__
    socket = sys.modules.get("socket")  # no lookup error can exist before it is imported
    if socket is not None and isinstance(e, socket.gaierror):
        return f"failed to lookup address information: {e.strerror or e}"
    if e.errno is None or type(e).__str__ is not OSError.__str__:
        return str(e) or type(e).__name__
    return f"{e.strerror or os.strerror(e.errno)} (os error {e.errno})"


class PizauthError(Exception):
    """Root of every error pizauth-dbus reports to a user."""

    dbus_name = ERROR_PREFIX + "Failed"


class UnknownAccountError(PizauthError):
    """The named account is not in the configuration."""

    dbus_name = ERROR_PREFIX + "UnknownAccount"

    def __init__(self, account: str) -> None:
        super().__init__(f"No account '{account}'")
        self.account = account


PENDING_PREFIX = "Access token unavailable until authorised with URL "


class AuthorisationPendingError(PizauthError):
    """The account has no token yet; the person must open ``url``."""

    dbus_name = ERROR_PREFIX + "AuthorisationPending"

    def __init__(self, url: str) -> None:
        super().__init__(PENDING_PREFIX + url)
        self.url = url


class DeviceCodePendingError(AuthorisationPendingError):
    """The account waits for the person to enter ``user_code`` at ``url`` (RFC 8628).

    The same D-Bus error as any pending authorisation, so callers that handle that one (and
    scripts that match upstream's words) need nothing new; the code follows the URL.
    """

    def __init__(self, url: str, user_code: str) -> None:
        PizauthError.__init__(self, f"{PENDING_PREFIX}{url} and code {user_code}")
        self.url = url
        self.user_code = user_code


class DeviceAuthorisationError(PizauthError):
    """The provider would not issue a device code (or answered with something unusable)."""

    dbus_name = ERROR_PREFIX + "DeviceAuthorisation"


class TokenExpiredError(PizauthError):
    """The token has expired and a refresh is under way or has just been started."""

    dbus_name = ERROR_PREFIX + "TokenExpired"


class ConfigError(PizauthError):
    """The configuration file is missing, unreadable or invalid.

    The message is complete and printable as is; it may span several lines.
    """

    dbus_name = ERROR_PREFIX + "Config"


class RestoreError(PizauthError):
    """A dump could not be restored; no state was changed."""

    dbus_name = ERROR_PREFIX + "Restore"


class AlreadyRunningError(PizauthError):
    """Another server owns the bus name."""

    dbus_name = ERROR_PREFIX + "AlreadyRunning"

    def __init__(self) -> None:
        super().__init__("pizauth authenticator already running")


class WaitEndedError(PizauthError):
    """A wait for a token (``show -w``, ``WaitForToken``) ended before a token came: the
    account was revoked, its authorisation failed, or the server stopped."""

    dbus_name = ERROR_PREFIX + "WaitEnded"


class CompletionError(PizauthError):
    """``pizauth complete`` (``Complete``) could not finish a sign-in with the URL it was
    given: no sign-in waits, the URL is not its redirect, its ``state`` is not the one asked
    for, or it carries no code. Nothing changed."""

    dbus_name = ERROR_PREFIX + "Completion"


class AuthorisationFailedError(PizauthError):
    """The provider refused the sign-in a ``Complete`` finished (its message, as
    ``error_notify_cmd`` gets it); the account is empty again, as after any failed sign-in."""

    dbus_name = ERROR_PREFIX + "AuthorisationFailed"


class AccessDeniedError(PizauthError):
    """A sandboxed app (Flatpak, Snap) asked for something it is not allowed: every method
    unless ``allowed_apps`` lists it, and ``Dump`` and ``Restore`` always."""

    dbus_name = ERROR_PREFIX + "AccessDenied"
