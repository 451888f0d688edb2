"""Unit tests for refresh timing, token lifetimes, the version-stamped store, and upstream's
time limits."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from pizauth_dbus import timing
from pizauth_dbus.config.loader import parse
from pizauth_dbus.config.model import Account
from pizauth_dbus.oauth import protocol as oauth
from pizauth_dbus.server import listeners, refresher
from pizauth_dbus.server.refresher import refresh_due_at
from pizauth_dbus.server.state import (
    CLOCK_MAX,
    Active,
    Empty,
    Entry,
    Pending,
    Store,
    expiry_after,
    from_wall,
    now,
    to_wall,
)

ACCOUNT = Account(
    name="acct",
    auth_uri="http://127.0.0.1:1/a",
    token_uri="http://127.0.0.1:1/t",
    client_id="c",
    refresh_at_least=5400,
    refresh_before_expiry=90,
    refresh_retry=40,
)


def _entry(token: Active | Empty, refresh_retry: int = 40) -> Entry:
    return Entry(replace(ACCOUNT, refresh_retry=refresh_retry), token, 1)


@pytest.mark.parametrize(
    ("obtained", "expiry", "expected"),
    [
        (1000.0, 4600.0, 4510.0),  # an hour's token: 90 s before expiry
        (1000.0, 100_000.0, 6400.0),  # a day's token: 90 min after it was obtained
        (1000.0, 1200.0, 1110.0),  # 200 s: 90 s before expiry is still after half its life
        # At or below refresh_before_expiry, upstream's rule says "due now", again and again
        # after every refresh: half the lifetime is the floor instead.
        (1000.0, 1060.0, 1030.0),
        (1000.0, 1090.0, 1045.0),
        (1000.0, 1008.0, 1005.0),  # but at least MIN_REFRESH_GAP...
        (1000.0, 1003.0, 1003.0),  # ...or the whole lifetime, when it is even shorter
        (1000.0, 1000.0, 1000.0),
    ],
)
def test_refresh_is_due_at_the_earlier_of_the_two_limits(
    obtained: float, expiry: float, expected: float
) -> None:
    assert refresh_due_at(_entry(Active("t", obtained, expiry, "r"))) == expected


def test_refresh_at_least_has_the_same_floor() -> None:
    acct = replace(ACCOUNT, refresh_at_least=0)
    assert refresh_due_at(Entry(acct, Active("t", 1000.0, 4600.0, "r"), 1)) == 1005.0


def test_after_a_failure_the_retry_interval_counts() -> None:
    tok = Active("t", 1000.0, 4600.0, "r", consecutive_refresh_fails=1, last_refresh_attempt=4520.0)
    assert refresh_due_at(_entry(tok)) == 4560.0
    assert refresh_due_at(_entry(tok, refresh_retry=1)) == 4521.0


def test_a_retry_is_never_sooner_than_the_floor() -> None:
    """``refresh_retry = 0s`` means "as soon as allowed", not a hot loop against the provider
    (upstream retries at once, again and again)."""
    tok = Active("t", 1000.0, 4600.0, "r", consecutive_refresh_fails=1, last_refresh_attempt=4520.0)
    assert timing.REFRESH_RETRY_MIN == 1.0
    assert refresh_due_at(_entry(tok, refresh_retry=0)) == 4520.0 + timing.REFRESH_RETRY_MIN
    assert refresh_due_at(_entry(tok), retry=0.0) == 4520.0 + timing.REFRESH_RETRY_MIN


def test_nothing_is_due_without_an_idle_active_token() -> None:
    assert refresh_due_at(_entry(Empty())) is None
    busy = Active("t", 1000.0, 4600.0, "r", ongoing_refresh=True, last_refresh_attempt=1.0)
    assert refresh_due_at(_entry(busy)) is None


def test_token_lifetimes_that_overflow_the_clock() -> None:
    assert expiry_after(100.0, 3600, 5400) == 3700.0
    assert expiry_after(100.0, 2**62, 5400) == 100.0 + 2**62
    assert expiry_after(100.0, CLOCK_MAX, 5400) == 5500.0
    assert expiry_after(100.0, 2**64 - 1, 5400) == 5500.0


def test_the_clock_counts_suspended_time_and_converts_to_wall_time() -> None:
    a = now()
    b = now()
    assert 0 <= b - a < 1
    # CLOCK_BOOTTIME includes suspend, so it is never behind CLOCK_MONOTONIC.
    assert now() >= time.monotonic() - 0.01
    wall = time.time()
    assert abs(to_wall(now()) - wall) < 1
    assert abs(from_wall(wall + 60) - (now() + 60)) < 1


def test_upstreams_time_limits() -> None:
    # Read from the environment only when a test sets the PIZAUTH_* variables.
    assert (timing.HTTP_TIMEOUT, oauth.EXCHANGE_ATTEMPTS, timing.EXCHANGE_RETRY_GAP) == (30, 10, 6)
    assert {408, 429, 500, 502, 503, 504} == oauth.TRANSIENT_HTTP_CODES
    assert (timing.NOTIFY_TIMEOUT, timing.TRANSIENT_TIMEOUT) == (10, 180)
    assert (timing.MAX_WAIT, refresher.TRANSIENT_CHECK_EVERY) == (37, 6)
    assert listeners.MAX_REQUEST_BYTES == 16 * 1024
    assert timing.CONNECTION_TIMEOUT == 10


CONFIG = """\
account "same" {{ auth_uri = "http://a/"; token_uri = "http://t/"; client_id = "c"; {same} }}
account "changed" {{ auth_uri = "http://a/"; token_uri = "http://t/"; client_id = "{cid}"; }}
{extra}
"""


def test_the_store_refuses_stale_writes_and_keeps_versions_on_reload() -> None:
    store = Store(
        parse(
            CONFIG.format(same="", cid="c", extra="")
            + 'account "gone" {\n'
            + 'auth_uri = "http://a/"; token_uri = "http://t/"; client_id = "c"; }\n'
        )
    )
    seen: list[str] = []
    store.changed.connect(lambda name, old, new: seen.append(name))
    same = store.get("same")
    active = store.replace("same", same.version, Active("t", 1.0, 2.0, "r"))
    assert active is not None and active.version != same.version
    assert store.replace("same", same.version, Empty()) is None  # stale: the world moved on
    pending = Pending("v", "S", "u", "http://localhost/")
    changed = store.replace("changed", store.get("changed").version, pending)
    assert changed is not None
    noted = store.annotate("changed", changed.version, replace(pending, last_notification=5.0))
    assert noted is not None and noted.version == changed.version
    assert store.find_pending("S") == ("changed", noted)
    seen.clear()

    store.reconfigure(
        parse(
            CONFIG.format(same="refresh_retry = 5s;", cid="other", extra="")
            + 'account "new" {'
            + ' auth_uri = "http://a/"; token_uri = "http://t/"; client_id = "c"; }\n'
        )
    )
    assert store.names() == ["changed", "new", "same"]
    kept = store.get("same")
    assert (kept.token, kept.version, kept.account.refresh_retry) == (
        active.token,
        active.version,
        5,
    )
    assert store.get("changed").token == Empty() and store.get("changed").version != noted.version
    assert store.get("new").token == Empty()
    assert store.find_pending("S") is None
    assert sorted(seen) == ["changed", "gone", "new", "same"]
