"""``dump`` and ``restore``: the token state in a form that can leave the process.

The envelope is upstream's: a 12-byte random nonce followed by ChaCha20-Poly1305 ciphertext
under a key that is a constant of this program. That is obfuscation, not encryption: it keeps
tokens away from ``grep`` and ``strings``, nothing more; anyone with this source can read a dump.
Users who store dumps must encrypt them (pizauth(1) says so).

Inside is our own versioned JSON payload, under a key of our own (upstream's payload is a Rust
serialisation, so dumps are not exchangeable between the two programs; an upstream dump is
recognised and refused with a message that says so).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from pizauth_dbus.config.model import ADDED_SECURITY_FIELDS, SECURITY_FIELDS, Account
from pizauth_dbus.errors import RestoreError
from pizauth_dbus.oauth.protocol import token_problem

NONCE_BYTES = 12
PAYLOAD_VERSION = 1
MAX_DUMP_BYTES = 4 << 20
"""A dump holds a few hundred bytes per account; anything larger is refused unread."""
LATEST_TIME = 253402300799
"""9999-12-31T23:59:59Z: no token is obtained or expires later."""
# Fixed and public on purpose (see the module docstring): a dump must be restorable by any
# build of pizauth-dbus, so the key cannot be per-install.
_KEY = bytes.fromhex("7b1f9c2e84d05a63c9e1f2a7d4b8603e5f19ac27e0d36b84c5a9f1720e3db846")
UPSTREAM_KEY = bytes.fromhex("66a247a85e48cfecaaed9b36eba97d5350d4286375097a44eeffb9c4546b65a3")
"""Upstream pizauth's own (equally public) dump key: used only to recognise its dumps, so that
restoring one says what it is instead of "Restoring dump failed"."""
UPSTREAM_DUMP = (
    "This is a dump made by upstream pizauth, whose format pizauth-dbus cannot read; "
    "nothing was restored. Authorise each account once with pizauth show ACCOUNT"
)


@dataclass(frozen=True)
class DumpedToken:
    """An Active token with wall-clock (Unix) times."""

    access_token: str
    obtained: float
    expiry: float
    refresh_token: str | None


@dataclass(frozen=True)
class DumpedAccount:
    """One account in a dump: its security-relevant config and, if it had one, its token."""

    security_fields: dict[str, object]
    """As :meth:`Account.security_fields` gives them, so the two compare equal when unchanged."""
    token: DumpedToken | None


def _to_json(value: object) -> object:
    return [_to_json(v) for v in value] if isinstance(value, tuple) else value


MAX_FIELD_DEPTH = 4
"""How deep an account field's lists may nest: ``auth_uri_fields`` is a list of pairs (2)."""


def _from_json(value: object, depth: int = 0) -> object:
    """Strings, None, and lists of them (made tuples again, as the account holds them).

    :raises TypeError: for anything else.
    :raises ValueError: for lists nested deeper than :data:`MAX_FIELD_DEPTH` (which would
        otherwise end in RecursionError, a failure with no name).
    """
    if isinstance(value, list):
        if depth >= MAX_FIELD_DEPTH:
            raise ValueError("field nested too deeply")
        return tuple(_from_json(v, depth + 1) for v in value)
    if value is None or isinstance(value, str):
        return value
    raise TypeError(type(value).__name__)


def encode(accounts: list[tuple[Account, DumpedToken | None]]) -> bytes:
    """Serialise and wrap in the envelope."""
    payload = {
        "version": PAYLOAD_VERSION,
        "accounts": {
            acct.name: {
                **{k: _to_json(v) for k, v in acct.security_fields().items()},
                "token": None
                if tok is None
                else {
                    "access_token": tok.access_token,
                    "obtained": tok.obtained,
                    "expiry": tok.expiry,
                    "refresh_token": tok.refresh_token,
                },
            }
            for acct, tok in accounts
        },
    }
    nonce = os.urandom(NONCE_BYTES)
    plain = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return nonce + ChaCha20Poly1305(_KEY).encrypt(nonce, plain, None)


def decode(data: bytes) -> dict[str, DumpedAccount]:
    """Unwrap and check a dump completely, before anything is applied.

    :raises RestoreError: ``Input too short``, ``Restoring dump failed`` (tampered or not a
        dump), :data:`UPSTREAM_DUMP`, ``Unknown dump version``, or ``Invalid dump: <what>``.
    """
    if len(data) < NONCE_BYTES:
        raise RestoreError("Input too short")
    if len(data) > MAX_DUMP_BYTES:
        raise RestoreError(f"Dump too large: a dump is at most {MAX_DUMP_BYTES >> 20} MiB")
    nonce, sealed = data[:NONCE_BYTES], data[NONCE_BYTES:]
    try:
        plain = ChaCha20Poly1305(_KEY).decrypt(nonce, sealed, None)
    except InvalidTag:
        try:
            ChaCha20Poly1305(UPSTREAM_KEY).decrypt(nonce, sealed, None)
        except InvalidTag:
            raise RestoreError("Restoring dump failed") from None
        raise RestoreError(UPSTREAM_DUMP) from None
    try:
        payload = json.loads(plain)
        version = payload["version"]
    except RecursionError:
        raise RestoreError("Invalid dump: nested too deeply") from None
    except (ValueError, KeyError, TypeError) as e:
        raise RestoreError(f"Invalid dump: {e}") from None
    # type(): JSON's true is a Python bool, which equals 1.
    if type(version) is not int or version != PAYLOAD_VERSION:
        raise RestoreError("Unknown dump version")
    out: dict[str, DumpedAccount] = {}
    try:
        for name, d in payload["accounts"].items():
            t = d["token"]
            token = None
            if t is not None:
                at, rt = t["access_token"], t["refresh_token"]
                # The checks a token from the provider passes, in the same words.
                problem = token_problem("access_token", at) or (
                    None if rt is None else token_problem("refresh_token", rt)
                )
                if problem is not None:
                    raise RestoreError(f"Invalid dump: {problem}, for account {_shown(name)}")
                token = DumpedToken(at, _time(t["obtained"]), _time(t["expiry"]), rt)
            fields = {
                k: _from_json(d.get(k) if k in ADDED_SECURITY_FIELDS else d[k])
                for k in SECURITY_FIELDS
            }
            out[str(name)] = DumpedAccount(fields, token)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise RestoreError(f"Invalid dump: malformed {e}") from None
    except RecursionError:  # a last guard: _from_json bounds the depth it walks
        raise RestoreError("Invalid dump: nested too deeply") from None
    return out


def _shown(name: object) -> str:
    """An account name from a dump, as an error message may quote it: short, one line."""
    text = repr(name)
    return text if len(text) <= 40 else text[:37] + "..."


def _time(value: object) -> float:
    """A Unix time from a dump: a finite number of seconds between 1970 and the year 9999.

    :raises ValueError: otherwise (JSON's 1e400 is infinity, and an infinite expiry would be
        served for ever and never refreshed).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("time")
    # An int is compared as it is: converting one of 310 digits or more to a float (as
    # math.isfinite does) raises OverflowError. A huge one is not quoted.
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"time {value}")
    if not 0 <= value <= LATEST_TIME:
        raise ValueError(f"time {value}" if -1e20 < value < 1e20 else "time (far too large)")
    return float(value)
