"""What pizauth's desktop notifications say and look like: texts, icons, labels and hints.

Kept apart from the policy in :mod:`pizauth_dbus.server.desktop.notifications` (what is shown when)
so that the wording can be read, and reviewed, in one place. User-facing text: British spelling,
account names quoted.
"""

from __future__ import annotations

import shlex

from dbus_fast import Variant
from desktop_notifier import Icon

from pizauth_dbus.server.desktop.backend import Extras

APP_NAME = "pizauth"
"""The application name servers show; the same as the desktop entry's ``Name``."""

DESKTOP_ENTRY = "pizauth"
"""``data/pizauth.desktop`` without its suffix: GNOME and KDE find the app's name, icon and
per-application notification settings through this hint."""

PROMPT_ICON = Icon(name="dialog-password-symbolic")
ERROR_ICON = Icon(name="dialog-error-symbolic")
"""Symbolic icons: scalable, so the common themes have them at every size a server asks for
(dunst finds no plain ``dialog-password`` at its 32 px), rather than desktop-notifier's default
Python logo."""

AUTHORISE_ACTION = "authorise"
AUTHORISE_LABEL = "Authorise"
OPEN_LABEL = "Open sign-in page"
"""The default (body click) action's label: servers with a context menu (dunst) list it."""

NO_EXPIRY = 0
"""desktop-notifier's timeout for a notification that stays until handled (expire_timeout 0)."""

PROMPT_EXTRAS = Extras(
    hints={"desktop-entry": Variant("s", DESKTOP_ENTRY), "resident": Variant("b", True)},
    default_label=OPEN_LABEL,
)
"""``resident``: servers honouring it keep the prompt after a click, so that a person who
closed the browser can click again; :mod:`pizauth_dbus.server.desktop.notifications` withdraws
it once the token arrives."""
ERROR_EXTRAS = Extras(hints={"desktop-entry": Variant("s", DESKTOP_ENTRY)})


def prompt_text(
    account: str, user_code: str | None = None, *, may_not_land: bool = False
) -> tuple[str, str]:
    """The prompt's summary and body (plain text); with the device code to enter, if any.
    ``may_not_land``: the redirect may not reach the listener (an https address with the
    listener's own certificate, a host that is not this machine), so the body says how to
    finish the sign-in with the address the browser ended on."""
    summary = f"Account “{account}” needs authorising"
    if user_code is not None:
        return (
            summary,
            f"Enter the code {user_code} on the sign-in page for “{account}”, on this or any "
            f"other device: {AUTHORISE_LABEL} opens it in your browser.",
        )
    body = (
        f"Sign in so that pizauth can get tokens for “{account}”: {AUTHORISE_LABEL} opens "
        "the sign-in page in your browser."
    )
    if may_not_land:
        body += (
            " If the page it ends on cannot be reached, copy its address and run: "
            f"pizauth complete {shlex.quote(account)} ADDRESS"
        )
    return summary, body


def error_text(account: str, message: str, hint: str = "") -> tuple[str, str]:
    """The error notification's summary and body (plain text) for ``message``, the text
    ``error_notify_cmd`` gets; its opening words would only repeat the summary. The hint, when
    a known cause explains the error, comes before the way to try again."""
    detail = message.removeprefix(f"Authentication for {account} failed: ")
    what = f"\nWhat to do: {hint}" if hint else ""
    return (
        f"Couldn't authorise “{account}”",
        f"{detail}{what}\nTo try again, run: pizauth show {shlex.quote(account)}",
    )
