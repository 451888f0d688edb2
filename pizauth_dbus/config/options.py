"""What each pizauth.conf option is: its kind of value, where it may stand, and the words for
options that were renamed, removed or misplaced, and for URIs that cannot be used.

Data and small pure checks that :mod:`pizauth_dbus.config.checker` applies to a parsed file;
the messages are upstream's where upstream has the check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pizauth_dbus import urls
from pizauth_dbus.config import lexicon
from pizauth_dbus.config.scanner import Setting

# Value types: what each option accepts, and how to say so in a message.
STR, TIME, LISTEN, URI, LIST, MAP = "string", "time", "listen", "uri", "list", "map"
BOOL = "bool"  # only pizauth-dbus's own additions use it; upstream's language has no booleans
EXPECTED = {
    STR: "a double-quoted string",
    TIME: "a time such as 90s, 5m, 1h or 2d",
    LISTEN: 'none or a double-quoted "address:port"',
    URI: "a double-quoted http or https URI",
    LIST: 'a list of strings such as ["a", "b"]',
    MAP: 'a map of strings such as { "key": "value" }',
    BOOL: "true or false",
}
GLOBAL_OPTIONS = {
    "allowed_apps": LIST,
    "auth_notify_cmd": STR,
    "auth_notify_interval": TIME,
    "desktop_notifications": BOOL,
    "error_notify_cmd": STR,
    "http_listen": LISTEN,
    "https_listen": LISTEN,
    "refresh_at_least": TIME,
    "refresh_before_expiry": TIME,
    "refresh_retry": TIME,
    "startup_cmd": STR,
    "token_event_cmd": STR,
    "token_store": STR,
    "transient_error_if_cmd": STR,
}
ACCOUNT_OPTIONS = {
    "auth_uri": URI,
    "auth_uri_fields": MAP,
    "client_id": STR,
    "client_secret": STR,
    "device_auth_uri": URI,  # pizauth-dbus addition: the device authorization grant (RFC 8628)
    "login_hint": STR,
    "redirect_uri": URI,
    "refresh_at_least": TIME,
    "refresh_before_expiry": TIME,
    "refresh_retry": TIME,
    "scopes": LIST,
    "token_uri": URI,
}
CHOICES = {"token_store": ("memory", "keyring")}
"""String options that take one of a few words (all pizauth-dbus additions)."""
MANDATORY_ACCOUNT_OPTIONS = ("auth_uri", "client_id", "token_uri")  # upstream's reporting order
OPTIONAL_WITH = {"auth_uri": "device_auth_uri"}
"""Mandatory options that an account may leave out when it sets the other one: an account with
``device_auth_uri`` signs in with a device code and never builds an authorisation URL."""
REMOVED_OPTIONS = {
    "auth_error_cmd": (
        "'auth_error_cmd' has been renamed to 'error_notify_cmd'",
        "rename it to 'error_notify_cmd': the command is run the same way",
    ),
    "not_transient_error_if": (
        "'not_transient_error_if' was removed in pizauth 0.3.0",
        "use the global option 'transient_error_if_cmd' instead; mind its opposite sense: "
        "it exits with 0 when the errors really are transient",
    ),
    "refresh_retry_interval": (
        "'refresh_retry_interval' was replaced by 'refresh_retry' in pizauth 0.2.0",
        "rename it to 'refresh_retry', which can be set globally or in an account",
    ),
}
LOGIN_HINT_CLASH = (
    "Both the 'login_hint' attribute and a 'auth_uri_fields' field with the name 'login_hint' "
    "are specified. The 'login_hint' attribute is deprecated so remove it."
)
MISPLACED = {  # indexed by "is it inside an account?"
    True: (
        "'{}' is a global option: it can't be set inside an account",
        "move it to the top level of the file, outside every account block",
    ),
    False: (
        "'{}' is an account option: it must be inside an account block",
        'move it into an account "name" { ... } block',
    ),
}
APP_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
"""What an ``allowed_apps`` item may be: a Flatpak app id (``org.mozilla.Thunderbird``) or a
snap's name (``thunderbird``); no wildcards, since one entry must name one app."""
OFF_WORDS = ("off", "false", "no", "disabled", "disable", "null", "nil")


def uri_problem(uri: str) -> tuple[str, ...] | None:
    """Why ``uri`` can't be an auth_uri, token_uri, redirect_uri or device_auth_uri:
    (message, *hints).

    Upstream's order: the URI must parse, then have no fragment, then be http or https. It is
    parsed by :mod:`pizauth_dbus.urls`, as every later use parses it, so that a URI accepted
    here cannot fail there; the ``Invalid URI:`` reasons are upstream's URL library's words.
    """
    reason = urls.parse_error(uri)
    if reason is not None:
        hints = ('write a full URI: "https://..."',) if "relative" in reason else ()
        return (f"Invalid URI: {reason}", *hints)
    if urls.has_fragment(uri):
        return ("URI fragments ('#...') are not allowed", "remove the '#' and what follows it")
    if urls.scheme(uri) not in ("http", "https"):
        return ("not a valid HTTP or HTTPS URI", "only http:// and https:// URIs can be used")
    return None


def closest(word: str, options: Mapping[str, str]) -> str | None:
    import difflib  # only on this error path: keep importing this module cheap

    if word.lower() in options:
        return word.lower()
    found = difflib.get_close_matches(word.lower(), list(options), n=1, cutoff=0.6)
    return found[0] if found else None


def wrong_kind(s: Setting, kind: str) -> tuple[str, ...]:
    """Why ``s``'s value is not of ``kind``, and what may be meant: (message, *hints)."""
    found = {"string": "a string", "list": "a list", "map": "a map"}.get(s.kind)
    if found is None:
        is_time = lexicon.TIME.fullmatch(s.text)
        found = "none" if s.text == "none" else f"the bare word {s.text}"
        found = f"the time {s.text}" if is_time else found
    hints = []
    if s.kind == "bare" and s.text == "none":
        hints.append("only http_listen and https_listen accept none; leave an option out "
                     "to leave it unset")  # fmt: skip
    elif kind == LISTEN and s.text.lower() in OFF_WORDS:
        hints.append(f"to turn the listener off, write: {s.key} = none;")
    elif s.kind == "bare" and kind in (STR, LISTEN, URI):
        hints.append(f'strings are double-quoted: "{s.text}"')
    elif s.kind == "string" and kind == TIME and lexicon.TIME.fullmatch(s.text):
        hints.append(f"times are not quoted: write {s.key} = {s.text};")
    elif s.kind == "string" and kind == LIST:
        hints.append(f'put the list in brackets: {s.key} = ["{s.text}"];')
    return (f"'{s.key}' must be {EXPECTED[kind]}, not {found}", *hints)
