"""The server's asyncio duties run in this test's own event loop, without a server process.

The refresher against the fake token endpoint (transient and permanent failures, the sixth
failure's ``transient_error_if_cmd``), the reminders' cadence, and the authorisation flow's
de-duplication of a redirect that arrives twice. Each is the real class, wired as
``server.serve`` wires it; only the loop and the clock are the test's.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.fakeoauth import FakeOAuth, Reply
from pizauth_dbus.config.loader import parse
from pizauth_dbus.oauth.httpclient import new_session
from pizauth_dbus.server import refresher as refresher_module
from pizauth_dbus.server.authorisation import Authoriser
from pizauth_dbus.server.events import Eventer, TokenEvent
from pizauth_dbus.server.refresher import TRANSIENT_CHECK_EVERY, Refresher
from pizauth_dbus.server.reminders import Reminders
from pizauth_dbus.server.state import Active, Empty, Pending, Store, now

WAIT = 10.0
"""Seconds any one awaited outcome may take."""


def _config(fake: FakeOAuth, extra: str = "") -> str:
    return extra + fake.account_config(extra="refresh_retry = 0s;\n")


@dataclass
class Duties:
    """A store, the token events, the refresher and the authoriser, as the server wires them."""

    store: Store
    events: Eventer
    refresher: Refresher
    authoriser: Authoriser
    seen: list[tuple[str, TokenEvent]] = field(default_factory=list)

    async def until(self, condition: Callable[[], object], what: str) -> None:
        async with asyncio.timeout(WAIT):
            while not condition():
                await asyncio.sleep(0.01)

    def activate(self, refresh_token: str | None = "rt") -> None:
        entry = self.store.get("acct")
        t = now()
        self.store.replace("acct", entry.version, Active("old", t, t + 3600, refresh_token))


@pytest.fixture
async def duties(
    fake_oauth: FakeOAuth, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Duties]:
    # Hooks run in this process's environment here, which CI may give no SHELL.
    monkeypatch.setenv("SHELL", "/bin/sh")
    # refresh_retry = 0s retries at once here: the floor under it has its own test.
    monkeypatch.setattr(refresher_module, "REFRESH_RETRY_MIN", 0.0)
    extra = getattr(request, "param", "")
    store = Store(parse(_config(fake_oauth, extra)))
    events = Eventer(lambda: store.config.token_event_cmd)
    async with new_session() as session:
        refresher = Refresher(store, events, lambda uri: session)
        authoriser = Authoriser(store, events, lambda uri: session, lambda: (8080, None))
        d = Duties(store, events, refresher, authoriser)
        events.changed.connect(lambda name, event: d.seen.append((name, event)))
        events.start()
        try:
            yield d
        finally:
            await authoriser.stop()
            await refresher.stop()
            await events.stop()


async def test_a_transient_failure_keeps_the_token_and_counts(
    duties: Duties, fake_oauth: FakeOAuth
) -> None:
    duties.activate()
    fake_oauth.script.append(Reply(503))
    assert duties.refresher.refresh_now("acct")
    await duties.until(
        lambda: not duties.store.get("acct").token.ongoing_refresh,  # type: ignore[union-attr]
        "the refresh to end",
    )
    tok = duties.store.get("acct").token
    assert isinstance(tok, Active) and tok.access_token == "old"
    assert tok.consecutive_refresh_fails == 1 and tok.last_refresh_attempt is not None
    assert duties.seen == []


async def test_a_permanent_failure_empties_the_account(
    duties: Duties, fake_oauth: FakeOAuth
) -> None:
    duties.activate()
    fake_oauth.script.append(Reply(400, {"error": "invalid_grant"}))
    assert duties.refresher.refresh_now("acct")
    await duties.until(lambda: duties.seen, "the token event")
    assert duties.seen == [("acct", TokenEvent.INVALIDATED)]
    assert isinstance(duties.store.get("acct").token, Empty)


async def test_a_success_replaces_the_token(duties: Duties, fake_oauth: FakeOAuth) -> None:
    duties.activate()
    assert duties.refresher.refresh_now("acct")
    assert not duties.refresher.refresh_now("acct")  # one at a time
    await duties.until(lambda: duties.seen, "the token event")
    assert duties.seen == [("acct", TokenEvent.REFRESHED)]
    tok = duties.store.get("acct").token
    assert isinstance(tok, Active) and tok.access_token == "at-1" and tok.refresh_token == "rt-1"


async def test_no_refresh_token_means_starting_over_quietly(duties: Duties) -> None:
    duties.activate(refresh_token=None)
    assert not duties.refresher.refresh_now("acct")
    assert isinstance(duties.store.get("acct").token, Empty)
    assert duties.seen == []


@pytest.mark.parametrize(
    ("duties", "kept"),
    [
        ('transient_error_if_cmd = "exit 0";\n', True),
        ('transient_error_if_cmd = "exit 1";\n', False),
    ],
    indirect=["duties"],
)
async def test_the_sixth_transient_failure_asks_the_hook(
    duties: Duties, fake_oauth: FakeOAuth, kept: bool
) -> None:
    """The refresher's own loop retries (refresh_retry is 0 s); the hook decides at the 6th."""
    duties.activate()
    fake_oauth.script.extend([Reply(503)] * TRANSIENT_CHECK_EVERY)  # then a success
    duties.refresher.start()
    assert duties.refresher.refresh_now("acct")
    await duties.until(lambda: duties.seen, "the token event")
    if kept:  # the token survived the six failures, and the seventh try succeeded
        assert duties.seen == [("acct", TokenEvent.REFRESHED)]
        assert len(fake_oauth.seen) == TRANSIENT_CHECK_EVERY + 1
    else:  # the hook said the errors are not transient: no seventh try
        assert duties.seen == [("acct", TokenEvent.INVALIDATED)]
        assert len(fake_oauth.seen) == TRANSIENT_CHECK_EVERY
        assert isinstance(duties.store.get("acct").token, Empty)


@pytest.mark.parametrize("duties", ['transient_error_if_cmd = "sleep 1";\n'], indirect=True)
async def test_the_failed_attempt_is_stamped_before_the_hook_runs(
    duties: Duties, fake_oauth: FakeOAuth
) -> None:
    """As upstream: the next try is ``refresh_retry`` after the failure, not after the end of
    a ``transient_error_if_cmd`` that may take minutes."""
    entry = duties.store.get("acct")
    t = now()
    fails = TRANSIENT_CHECK_EVERY - 1  # this failure is the one that asks the hook
    primed = Active("old", t, t + 3600, "rt", consecutive_refresh_fails=fails)
    duties.store.replace("acct", entry.version, primed)
    fake_oauth.script.append(Reply(503))
    started = now()
    assert duties.refresher.refresh_now("acct")
    await duties.until(
        lambda: not duties.store.get("acct").token.ongoing_refresh,  # type: ignore[union-attr]
        "the refresh and the hook to end",
    )
    assert now() - started >= 1  # the hook ran
    tok = duties.store.get("acct").token
    assert isinstance(tok, Active) and tok.consecutive_refresh_fails == TRANSIENT_CHECK_EVERY
    assert tok.last_refresh_attempt is not None
    assert tok.last_refresh_attempt - started < 0.5


async def test_a_redirect_that_arrives_twice_is_exchanged_once(
    duties: Duties, fake_oauth: FakeOAuth
) -> None:
    entry = duties.store.get("acct")
    pending = duties.authoriser.new_pending("acct", entry)
    entry = duties.store.get("acct")
    assert entry.token == pending and pending.redirect_uri == "http://localhost:8080/"
    # Still exchanging when the second redirect comes.
    token = {"access_token": "at", "token_type": "Bearer", "expires_in": 60}
    both = threading.Event()  # the exchange is answered once both codes have come
    fake_oauth.script.append(Reply(json=token, hold=both))
    duties.authoriser.code_received("acct", entry, "code")
    duties.authoriser.code_received("acct", entry, "code")
    both.set()
    await duties.until(lambda: duties.seen, "the new token")
    assert duties.seen == [("acct", TokenEvent.NEW)]
    assert len(fake_oauth.seen) == 1


async def test_reminders_come_at_the_interval(fake_oauth: FakeOAuth, tmp_path: Path) -> None:
    store = Store(parse(_config(fake_oauth, "auth_notify_interval = 1s;\n")))
    reminders = Reminders(store)
    loop = asyncio.get_running_loop()
    times: list[float] = []
    reminders.auth_needed.connect(lambda name, url: times.append(loop.time()))
    entry = store.get("acct")
    store.replace("acct", entry.version, Pending("v", "s", "http://x/", "http://localhost/"))
    reminders.start()
    try:
        async with asyncio.timeout(WAIT):
            while len(times) < 3:
                await asyncio.sleep(0.01)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(0.95 <= gap < 1.5 for gap in gaps), gaps
        # Once the account stops waiting, the reminders stop.
        entry = store.get("acct")
        store.replace("acct", entry.version, Empty())
        count = len(times)
        await asyncio.sleep(1.3)
        assert len(times) == count
    finally:
        await reminders.stop()


@pytest.mark.parametrize("duty", ["refresher", "reminders"])
async def test_a_duty_stops_even_when_woken_at_that_moment(duties: Duties, duty: str) -> None:
    """On Python 3.11, asyncio.wait_for swallowed a cancellation that arrived just as the event
    it waited for was set: a refresh finishing during shutdown left the server hanging."""
    target = duties.refresher if duty == "refresher" else Reminders(duties.store)
    target.start()
    for _ in range(20):  # whichever loop iteration the race needs
        await asyncio.sleep(0.01)
        target.wake()
        for _ in range(3):
            await asyncio.sleep(0)
    target.wake()
    await asyncio.sleep(0)  # the wait has ended; the duty has not run yet
    async with asyncio.timeout(WAIT):
        await target.stop()
