"""Texts the tests share: config headers and a minimal account, the CLI's messages as upstream
prints them, and the message a config is refused with."""

from __future__ import annotations

HEAD = 'http_listen = "127.0.0.1:0";\nhttps_listen = none;\n'
"""Global settings most tests want: an HTTP listener on a random port, HTTPS off."""
BOTH = 'http_listen = "127.0.0.1:0";\nhttps_listen = "127.0.0.1:0";\n'
"""Both redirect listeners, on random ports."""

ENDPOINTS = 'auth_uri = "http://a.com"; client_id = "b"; token_uri = "http://f.com";'
"""The settings every account needs, for tests of the config language."""
MINIMAL = f'account "x" {{ {ENDPOINTS} }}'
"""The smallest valid config: one account with :data:`ENDPOINTS`."""

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
