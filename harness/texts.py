"""Texts the tests share: config headers, and the CLI's messages as upstream prints them."""

from __future__ import annotations

HEAD = 'http_listen = "127.0.0.1:0";\nhttps_listen = none;\n'
"""Global settings most tests want: an HTTP listener on a random port, HTTPS off."""
BOTH = 'http_listen = "127.0.0.1:0";\nhttps_listen = "127.0.0.1:0";\n'
"""Both redirect listeners, on random ports."""

PENDING = "ERROR - Access token unavailable until authorised with URL "
"""``show``'s line for an account that waits for authorisation (the URL follows)."""
NOT_RUNNING = "ERROR - pizauth authenticator not running or not responding\n"
"""What every client command prints when no server answers."""
