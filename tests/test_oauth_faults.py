"""What the server does when the token endpoint misbehaves (the scriptable fake endpoint):
transient and permanent errors, timeouts, malformed answers, and the version stamp that keeps
slow answers from overwriting newer states."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import threading
import time
import zlib
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from harness import lifecycle as lc
from harness.fakeoauth import FakeOAuth, Reply, bearer
from harness.flows import pending_url
from harness.procs import free_port, wait_for
from harness.server import PizauthServer, ServerFactory
from harness.texts import HEAD, PENDING
from harness.user import follow

KNOBS = {
    "PIZAUTH_HTTP_TIMEOUT": "0.5",
    "PIZAUTH_EXCHANGE_RETRY_GAP": "0.1",
    "PIZAUTH_TRANSIENT_HOOK_TIMEOUT": "1",
    "PIZAUTH_REFRESH_RETRY_MIN": "0",
}
"""Upstream's 30 s request timeout, 6 s exchange retry gap and 3 min hook limit, shortened,
and ``refresh_retry = 0s`` retrying at once (the floor under it has its own test)."""


class Setup:
    """A server using the fake endpoint, with hooks recording events and error messages."""

    def __init__(
        self,
        servers: ServerFactory,
        fake: FakeOAuth,
        tmp_path: Path,
        *,
        top: str = "",
        account: str = "refresh_retry = 0s;\n",
        token_uri: str | None = None,
        knobs: dict[str, str] | None = None,
    ) -> None:
        self.fake = fake
        self.events = tmp_path / "events"
        self.errors = tmp_path / "errors"
        block = fake.account_config(extra=account)
        if token_uri is not None:
            block = block.replace(fake.token_uri, token_uri)
        self.server: PizauthServer = servers(
            HEAD
            + lc.setting("token_event_cmd", lc.recorder(self.events, "PIZAUTH_EVENT"))
            + lc.setting(
                "error_notify_cmd", lc.recorder(self.errors, "PIZAUTH_ACCOUNT", "PIZAUTH_MSG")
            )
            + top
            + block,
            extra_env=KNOBS if knobs is None else knobs,
        )

    def login(self) -> str:
        return lc.login_with_fake(self.server)

    def refresh(self) -> None:
        r = self.server.cli("refresh", "acct")
        assert (r.returncode, r.stderr) == (0, b"")

    def wait_event(self, event: str, count: int = 1) -> None:
        wait_for(lambda: lc.lines(self.events).count(event) >= count, f"{count} x {event}")

    def failed_login(self, reply: Reply) -> str:
        """Authorise with ``reply`` as the token endpoint's answer; return the error message."""
        before = len(lc.lines(self.errors))
        self.fake.script.append(reply)
        page = follow(pending_url(self.server, "acct"))
        assert page.status == 200  # the listener answers before the exchange
        wait_for(lambda: len(lc.lines(self.errors)) > before, "error_notify_cmd")
        assert lc.status(self.server)["acct"] == "No access token"
        return lc.lines(self.errors)[before]


def test_refresh_retry_0s_retries_no_faster_than_once_a_second(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    """Upstream retries ``refresh_retry = 0s`` in a hot loop against the provider."""
    knobs = {k: v for k, v in KNOBS.items() if k != "PIZAUTH_REFRESH_RETRY_MIN"}
    s = Setup(servers, fake_oauth, tmp_path, knobs=knobs)
    assert s.login() == "at-1"
    fake_oauth.script.extend(Reply(503) for _ in range(1000))
    started = time.monotonic()
    s.refresh()
    wait_for(lambda: len(fake_oauth.seen) >= 1 + 3, "three failed refreshes")
    assert time.monotonic() - started >= 2  # two gaps of at least a second
    assert len(fake_oauth.seen) <= 1 + 4
    assert lc.show_token(s.server) == "at-1"


def test_transient_error_keeps_the_token_and_retries(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    s = Setup(servers, fake_oauth, tmp_path, account="refresh_retry = 1s;\n")
    assert s.login() == "at-1"
    # The retry is answered only once the old token has been checked: on a busy machine the
    # checks may take longer than refresh_retry.
    checked = threading.Event()
    fake_oauth.script.extend(
        [
            Reply(503, {"error": "temporarily_unavailable", "error_description": "try later"}),
            replace(bearer("at-2", "rt-1"), hold=checked),
        ]
    )
    s.refresh()
    wait_for(
        lambda: lc.in_log(
            s.server,
            "Transitory refresh error for acct: HTTP code 503 (temporarily_unavailable: try later)",
        ),
        "the transitory error in the log",
    )
    # The token stays in service, and the retry waits for refresh_retry.
    assert lc.show_token(s.server) == "at-1"
    assert lc.status(s.server)["acct"].startswith("Active access token")
    checked.set()
    s.wait_event("token_refreshed")
    assert lc.show_token(s.server) == "at-2"
    assert len(fake_oauth.seen) == 3
    assert fake_oauth.seen_at[2] - fake_oauth.seen_at[1] >= 1.0  # refresh_retry after the 503
    assert fake_oauth.seen[2] == [
        ("client_id", "fake-client"),
        ("refresh_token", "rt-1"),
        ("grant_type", "refresh_token"),
        ("client_secret", "fake-secret"),
    ]
    assert "token_invalidated" not in lc.lines(s.events)


def test_every_transient_status_is_retried_and_the_sixth_asks_the_hook(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    asked = tmp_path / "asked"
    s = Setup(
        servers,
        fake_oauth,
        tmp_path,
        top=lc.setting("transient_error_if_cmd", lc.recorder(asked, "PIZAUTH_ACCOUNT")),
    )
    s.login()
    codes = [408, 429, 500, 502, 503, 504, 503, 503, 503, 503, 503]  # 11: ask at 6, not 5 or 10
    fake_oauth.script.extend(Reply(c) for c in codes)
    s.refresh()
    s.wait_event("token_refreshed")
    log = s.server.log()
    for c in codes:
        assert f"Transitory refresh error for acct: HTTP code {c}" in log
    # Asked once, after the sixth failure in a row; it said "transient", so the token stayed.
    assert lc.lines(asked) == ["acct"]
    assert lc.show_token(s.server) == "at-2"
    assert len(fake_oauth.seen) == 1 + len(codes) + 1
    assert "token_invalidated" not in lc.lines(s.events)


@pytest.mark.parametrize(
    ("hook", "message"),
    [("exit 3", "'exit 3' returned 3"), ("sleep 30", "'sleep 30' exceeded timeout")],
)
def test_transient_error_if_cmd_can_declare_the_errors_permanent(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path, hook: str, message: str
) -> None:
    s = Setup(servers, fake_oauth, tmp_path, top=lc.setting("transient_error_if_cmd", hook))
    s.login()
    fake_oauth.script.extend(Reply(502) for _ in range(6))
    s.refresh()
    s.wait_event("token_invalidated")
    assert lc.in_log(s.server, f"ERROR - Permanent refresh error for acct: {message}")
    assert s.server.log().count("Transitory refresh error for acct") == 6
    assert lc.status(s.server)["acct"] == "No access token"
    assert lc.lines(s.errors) == []


def test_a_refresh_that_times_out_is_transient(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    s = Setup(servers, fake_oauth, tmp_path)
    s.login()
    fake_oauth.script.append(Reply(delay=1.0))
    s.refresh()
    s.wait_event("token_refreshed")
    assert lc.in_log(s.server, "Transitory refresh error for acct: no answer within 0.5 s")
    assert lc.show_token(s.server) == "at-2"


def test_a_code_exchange_that_times_out_is_tried_again(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    s = Setup(servers, fake_oauth, tmp_path)
    fake_oauth.script.append(Reply(delay=1.0))
    assert s.login() == "at-1"
    assert len(fake_oauth.seen) == 2
    assert fake_oauth.seen[0] == fake_oauth.seen[1]
    assert lc.lines(s.events) == ["token_new"]


def test_a_code_exchange_gives_up_when_nothing_answers(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/token"
    s = Setup(servers, fake_oauth, tmp_path, token_uri=dead)
    page = follow(pending_url(s.server, "acct"))
    assert page.status == 200
    wait_for(lambda: lc.lines(s.errors), "error_notify_cmd")
    assert lc.lines(s.errors) == [
        f"acct|Authentication for acct failed: couldn't connect to {dead}"
    ]
    assert lc.status(s.server)["acct"] == "No access token"


def test_the_code_exchange_sends_upstreams_fields(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    s = Setup(servers, fake_oauth, tmp_path)
    url = pending_url(s.server, "acct")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    follow(url)
    wait_for(lambda: lc.show_token(s.server), "the token")
    form = fake_oauth.seen[0]
    assert [k for k, _ in form] == [
        "code",
        "client_id",
        "code_verifier",
        "redirect_uri",
        "grant_type",
        "client_secret",
    ]
    fields = dict(form)
    assert fields["code"] == fake_oauth.code
    assert fields["client_id"] == "fake-client"
    assert fields["redirect_uri"] == query["redirect_uri"]
    assert fields["grant_type"] == "authorization_code"
    assert fields["client_secret"] == "fake-secret"
    assert len(fields["code_verifier"]) == 86
    digest = hashlib.sha256(fields["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == query["code_challenge"]


def test_failed_code_exchanges_tell_the_person_why(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    s = Setup(servers, fake_oauth, tmp_path)
    cases = [
        (Reply(200, text="{not json"), "Invalid JSON: "),
        (
            Reply(400, {"error": "invalid_grant", "error_description": "code expired"}),
            "HTTP code 400 (invalid_grant: code expired)",
        ),
        (Reply(401, text="Unauthorized"), "HTTP code 401"),
        (Reply(200, {"error": "access_denied"}), "access_denied"),
        (Reply(200, {"access_token": "x", "token_type": "Bearer"}), "invalid response received"),
        (Reply(200, {"access_token": "x", "token_type": "MAC", "expires_in": 5}), "invalid"),
        (Reply(503), "HTTP code 503"),  # an HTTP answer is final: no retry
    ]
    for reply, text in cases:
        message = s.failed_login(reply)
        assert message.startswith(f"acct|Authentication for acct failed: {text}"), message
        assert lc.in_log(s.server, message.split("|", 1)[1])
    assert len(fake_oauth.seen) == len(cases)
    assert lc.lines(s.events) == []


def _gzip_bomb(size: int) -> bytes:
    """``size`` bytes of JSON-ish zeros, gzipped to about a thousandth of that."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"0" * (1 << 20)
    return b"".join(squeeze.compress(block) for _ in range(size >> 20)) + squeeze.flush()


def test_oversized_answers_are_refused(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    """An answer over 1 MiB, decompressed size included, and a token over 64 KiB are clear
    errors; the account gets a new URL as for any failed exchange."""
    # Upstream's 30 s request timeout: sending 10 MiB can take longer than the shortened
    # 0.5 s on a busy machine, and a timed-out exchange is tried again with the next answer.
    s = Setup(servers, fake_oauth, tmp_path, knobs={})
    bomb = _gzip_bomb(256 << 20)  # 256 MiB in about 256 KiB
    assert len(bomb) < 1 << 20
    huge = {"access_token": "x" * (10 << 20), "token_type": "Bearer", "expires_in": 60}
    long = {"access_token": "x" * (100 << 10), "token_type": "Bearer", "expires_in": 60}
    too_large = f"{fake_oauth.token_uri}: the answer is larger than 1024 KiB"
    cases = [
        (Reply(body=bomb, headers={"Content-Encoding": "gzip"}), too_large),
        (Reply(json=huge), too_large),
        (Reply(json=long), "the access_token is longer than 64 KiB"),
    ]
    for reply, text in cases:
        message = s.failed_login(reply)
        assert message == f"acct|Authentication for acct failed: {text}", message
    # A gzipped answer of ordinary size is read as any other.
    token = {
        "access_token": "zipped",
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": "r",
    }
    zipped = zlib.compress(json.dumps(token).encode(), wbits=16 + zlib.MAX_WBITS)
    fake_oauth.script.append(Reply(body=zipped, headers={"Content-Encoding": "gzip"}))
    assert s.login() == "zipped"
    # An oversized answer to a refresh is transient or not as its status says.
    fake_oauth.script.append(Reply(503, body=bomb, headers={"Content-Encoding": "gzip"}))
    s.refresh()
    wait_for(lambda: lc.in_log(s.server, f"Transitory refresh error for acct: {too_large}"), "it")
    assert s.server.running()


class _GarbledEndpoint(threading.Thread):
    """A token endpoint that answers every request with ``answer`` and closes; it counts the
    requests it gets."""

    def __init__(self, answer: bytes) -> None:
        super().__init__(daemon=True)
        self.answer, self.requests = answer, 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.uri = f"http://127.0.0.1:{self.sock.getsockname()[1]}/token"

    def run(self) -> None:
        with contextlib.suppress(OSError):  # closed at the end of the test
            while True:
                conn, _ = self.sock.accept()
                with conn:
                    conn.settimeout(5)
                    with contextlib.suppress(OSError):
                        conn.recv(65536)
                        self.requests += 1
                        conn.sendall(self.answer)


def test_an_answer_that_cannot_be_read_is_reported_at_once_and_the_code_sent_once(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    """An answer that came back but could not be decoded was retried as if the network had
    failed: the same code sent 10 times, then reported as "couldn't connect" (54 s)."""
    s = Setup(servers, fake_oauth, tmp_path)
    corrupt = Reply(body=b"this is not gzip", headers={"Content-Encoding": "gzip"})
    message = s.failed_login(corrupt)
    unreadable = f"{fake_oauth.token_uri}: the answer could not be read"
    assert message == f"acct|Authentication for acct failed: {unreadable} (corrupt gzip data)"
    assert len(fake_oauth.seen) == 1
    # A status line that is not HTTP: bytes came back, so it is an answer too.
    s.server.stop()
    garbled = _GarbledEndpoint(b"HTTP/1.1 2x0 garbled\r\n\r\n")
    garbled.start()
    try:
        s = Setup(servers, fake_oauth, tmp_path, token_uri=garbled.uri)
        message = s.failed_login(Reply())
        assert message.startswith(
            f"acct|Authentication for acct failed: {garbled.uri}: the answer could not be read"
        ), message
        assert garbled.requests == 1
    finally:
        garbled.sock.close()


def test_tokens_no_bus_can_carry_are_refused_at_the_exchange(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    """A token with a NUL or a lone surrogate was kept, and every show of its account then
    failed with a generic bus error for the token's whole lifetime."""
    s = Setup(servers, fake_oauth, tmp_path)
    bearer = {"token_type": "Bearer", "expires_in": 60}
    cases = [
        (Reply(json={**bearer, "access_token": "a\x00b"}), "the access_token contains a NUL"),
        (Reply(json={**bearer, "access_token": "\ud800"}), "the access_token is not valid Unicode"),
        (
            Reply(json={**bearer, "access_token": "a", "refresh_token": "\udfff"}),
            "the refresh_token is not valid Unicode",
        ),
    ]
    for reply, text in cases:
        message = s.failed_login(reply)
        assert message.startswith(f"acct|Authentication for acct failed: {text}"), message
        # The account waits for a new sign-in, and show says so.
        code, _, err = lc.show(s.server)
        assert code == 1 and err.startswith(PENDING), err


def test_an_answer_no_parser_expects_still_fails_the_exchange_visibly(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    """100,000 nested arrays make Python's JSON parser raise RecursionError: the exchange must
    still end in the error hook, the log and a new URL, not in a silent Pending account."""
    s = Setup(servers, fake_oauth, tmp_path)
    url = pending_url(s.server, "acct")
    message = s.failed_login(Reply(text="[" * 100_000 + "]" * 100_000))
    assert message == "acct|Authentication for acct failed: Invalid JSON: nested too deeply"
    assert lc.in_log(s.server, "Authentication for acct failed: Invalid JSON: nested too deeply")
    assert pending_url(s.server, "acct") != url


def test_permanent_refresh_errors_invalidate_the_token(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    """Only the provider's own OAuth error (JSON with ``error``) ends a refresh token."""
    s = Setup(servers, fake_oauth, tmp_path)
    cases = [
        (
            Reply(400, {"error": "invalid_grant", "error_description": "token revoked"}),
            "HTTP code 400 (invalid_grant: token revoked)",
        ),
        (Reply(401, {"error": "invalid_client"}), "HTTP code 401 (invalid_client)"),
        (Reply(403, {"error": "unauthorized_client"}), "HTTP code 403 (unauthorized_client)"),
        (Reply(400, {"error": "invalid_scope"}), "HTTP code 400 (invalid_scope)"),
        (Reply(400, {"error": "unsupported_grant_type"}), "HTTP code 400 (unsupported_grant_type)"),
        (Reply(200, {"error": "no_way"}), "Refreshing acct failed: no_way"),
    ]
    for n, (reply, text) in enumerate(cases, start=1):
        s.login()
        fake_oauth.script.append(reply)
        s.refresh()
        s.wait_event("token_invalidated", n)
        assert lc.in_log(s.server, f"Permanent refresh error for acct: {text}"), text
        assert lc.status(s.server)["acct"] == "No access token"
    assert lc.lines(s.errors) == []


PORTAL_PAGE = "<html><body><h1>Welcome to the hotel</h1><a href=/login>Sign in</a></body></html>"
"""What a captive portal answers any request with before its sign-in page has been used."""


def test_a_captive_portal_or_filtering_proxy_keeps_the_token(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    """An HTML 200, a bare 403 or 407, a non-JSON error page, JSON that is not a token answer:
    none of them is the provider saying the refresh token is dead. The token is kept, and once
    the endpoint answers properly the account refreshes with the refresh token it had, with no
    new sign-in. (Upstream, and this server before, emptied the account at each of them.)"""
    s = Setup(servers, fake_oauth, tmp_path)
    assert s.login() == "at-1"
    html = {"Content-Type": "text/html"}
    cases = [
        (Reply(200, body=PORTAL_PAGE.encode(), headers=html), "Refreshing acct failed: Expecting"),
        (Reply(403, body=b"Forbidden", headers=html), "HTTP code 403"),
        (Reply(407, body=b"Proxy Authentication Required", headers=html), "HTTP code 407"),
        (Reply(401, body=PORTAL_PAGE.encode(), headers=html), "HTTP code 401"),
        (Reply(200, text="{not json"), "Refreshing acct failed: Expecting property name"),
        (Reply(200, {"access_token": "x", "token_type": "Bearer"}), "Received JSON in unexpected"),
    ]
    fake_oauth.script.extend(reply for reply, _ in cases)
    # refresh_retry = 0s: each failure is retried at once, the endpoint answering with the
    # next fault, until it answers properly.
    s.refresh()
    s.wait_event("token_refreshed")
    for _, text in cases:
        assert lc.in_log(s.server, f"Transitory refresh error for acct: {text}"), text
    assert lc.show_token(s.server) == "at-2"
    assert len(fake_oauth.seen) == 1 + len(cases) + 1
    assert all(("refresh_token", "rt-1") in seen for seen in fake_oauth.seen[1:])
    assert len(fake_oauth.authorize_seen) == 1  # no new sign-in
    assert "token_invalidated" not in lc.lines(s.events) and lc.lines(s.errors) == []
    assert not lc.in_log(s.server, "Permanent refresh error")


def test_refresh_responses_and_the_refresh_token(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    s = Setup(servers, fake_oauth, tmp_path)
    # token_type is case-insensitive (RFC 6749; upstream insists on "Bearer").
    fake_oauth.script.append(
        Reply(
            json={
                "access_token": "a1",
                "token_type": "bearer",
                "expires_in": 3600,
                "refresh_token": "r1",
            }
        )
    )
    assert s.login() == "a1"

    def refresh_with(body: dict[str, object], event: str, n: int) -> None:
        fake_oauth.script.append(Reply(json={"token_type": "BEARER", "expires_in": 3600, **body}))
        s.refresh()
        s.wait_event(event, n)

    refresh_with({"access_token": "a2"}, "token_refreshed", 1)  # no refresh_token: keep r1
    refresh_with({"access_token": "a3", "refresh_token": "r2"}, "token_refreshed", 2)
    refresh_with({"access_token": "a4", "refresh_token": None}, "token_refreshed", 3)
    assert [dict(f)["refresh_token"] for f in fake_oauth.seen[1:]] == ["r1", "r1", "r2"]
    assert lc.show_token(s.server) == "a4"

    # Now there is no refresh token: the account quietly starts over, with no event.
    s.refresh()
    wait_for(lambda: lc.status(s.server)["acct"] == "No access token", "the account to empty")
    assert len(fake_oauth.seen) == 4
    assert lc.lines(s.events) == ["token_new", *["token_refreshed"] * 3]


def test_a_slow_refresh_cannot_undo_a_revoke(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    s = Setup(servers, fake_oauth, tmp_path, knobs={})  # upstream's 30 s timeout
    s.login()
    revoked = threading.Event()  # the refresh is answered once the revoke is done
    fake_oauth.script.append(replace(bearer("late", expires_in=60), hold=revoked))
    s.refresh()
    wait_for(lambda: len(fake_oauth.seen) == 2, "the refresh request")
    assert s.server.cli("revoke", "acct").returncode == 0
    revoked.set()
    wait_for(lambda: lc.in_log(s.server, "Discarding a refreshed token for acct"), "the discard")
    assert lc.status(s.server)["acct"] == "No access token"
    assert lc.lines(s.events) == ["token_new", "token_revoked"]


def test_a_slow_exchange_cannot_overwrite_a_newer_request(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    s = Setup(servers, fake_oauth, tmp_path, knobs={})  # upstream's 30 s timeout
    renewed = threading.Event()  # the exchange is answered once the new URL is made
    fake_oauth.script.append(replace(bearer("late", expires_in=60), hold=renewed))
    assert follow(pending_url(s.server, "acct")).status == 200
    wait_for(lambda: fake_oauth.seen, "the exchange request")
    # The person asks for a new URL while the old code is being exchanged.
    new_url = s.server.cli("refresh", "acct").stderr.decode()
    renewed.set()
    wait_for(lambda: lc.in_log(s.server, "Discarding a token for acct"), "the discard")
    assert lc.status(s.server)["acct"].startswith("Access token pending authentication")
    assert pending_url(s.server, "acct") in new_url
    assert lc.lines(s.events) == []
