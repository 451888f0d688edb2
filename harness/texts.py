"""Texts the tests share: config headers and a minimal account, how to write pizauth.conf's
strings and account blocks, the CLI's messages as upstream prints them, the message a
config is refused with, and the shell examples of the D-Bus man page."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

HEAD = 'http_listen = "127.0.0.1:0";\nhttps_listen = none;\n'
"""Global settings most tests want: an HTTP listener on a random port, HTTPS off."""
BOTH = 'http_listen = "127.0.0.1:0";\nhttps_listen = "127.0.0.1:0";\n'
"""Both redirect listeners, on random ports."""

ENDPOINTS = 'auth_uri = "http://a.com"; client_id = "b"; token_uri = "http://f.com";'
"""The settings every account needs, for tests of the config language."""
MINIMAL = f'account "x" {{ {ENDPOINTS} }}'
"""The smallest valid config: one account with :data:`ENDPOINTS`."""


def conf_string(s: str) -> str:
    """``s`` as a pizauth.conf string literal (the language's only escapes: ``\\"``, ``\\\\``)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def account_block(
    name: str,
    start: tuple[str, str],
    token_uri: str,
    client_id: str,
    client_secret: str | None,
    scopes: Sequence[str],
    *,
    more: Sequence[tuple[str, str]] = (),
    tail: str = "",
) -> str:
    """An ``account`` block for a provider's endpoints, one setting a line, four spaces in.

    :param start: where a sign-in starts: ``("auth_uri", URI)`` or ``("device_auth_uri", URI)``.
    :param client_secret: left out when None; so are ``scopes`` when empty.
    :param more: further ``(setting, value as written)`` pairs.
    :param tail: put in as it is before the closing brace (settings each ending in ``;`` and
        a newline).
    """
    settings = [start, ("token_uri", token_uri), ("client_id", client_id)]
    settings = [(k, conf_string(v)) for k, v in settings]
    if client_secret is not None:
        settings.append(("client_secret", conf_string(client_secret)))
    if scopes:
        settings.append(("scopes", "[" + ", ".join(conf_string(s) for s in scopes) + "]"))
    lines = [f"account {conf_string(name)} {{", *(f"    {k} = {v};" for k, v in [*settings, *more])]
    return "\n".join(lines) + "\n" + tail + "}\n"


PENDING = "ERROR - Access token unavailable until authorised with URL "
"""``show``'s line for an account that waits for authorisation (the URL follows)."""
NOT_RUNNING = "ERROR - pizauth authenticator not running or not responding\n"
"""What every client command prints when no server answers."""


def error_of(text: str) -> str:
    """The message the config ``text`` is refused with.

    :raises AssertionError: when it is accepted.
    """
    # Imported here: the demo and the benchmarks use these texts without parsing configs.
    from pizauth_dbus.config.loader import parse
    from pizauth_dbus.errors import ConfigError

    try:
        parse(text)
    except ConfigError as e:
        return str(e)
    raise AssertionError(f"the config was accepted:\n{text}")


MAN_PAGE = Path(__file__).resolve().parent.parent / "man" / "org.pizauth.5"
"""The D-Bus interface's man page, whose examples are meant to be run as printed."""


def man_examples() -> list[str]:
    """The busctl and gdbus command lines in the man page's example blocks."""
    lines, inside = [], False
    for raw in MAN_PAGE.read_text().splitlines():
        if raw.startswith(".EX"):
            inside = True
        elif raw.startswith(".EE"):
            inside = False
        elif inside and raw.startswith(("busctl", "gdbus")):
            lines.append(raw.replace("\\-", "-"))
    return lines
