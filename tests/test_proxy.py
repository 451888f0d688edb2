"""Token requests go through the proxy the standard variables name (a real tinyproxy), and
``no_proxy`` exempts hosts from it."""

from __future__ import annotations

from pathlib import Path

from harness import lifecycle as lc
from harness.fakeoauth import FakeOAuth
from harness.procs import wait_for
from harness.proxy import TinyProxy
from harness.server import ServerFactory
from harness.texts import HEAD


def _config(fake: FakeOAuth, events: Path, retry: str = "0s") -> str:
    return (
        HEAD
        + lc.setting("token_event_cmd", lc.recorder(events, "PIZAUTH_EVENT"))
        + fake.account_config(extra=f"refresh_retry = {retry};\n")
    )


def test_the_exchange_and_refreshes_pass_through_the_proxy(
    servers: ServerFactory, fake_oauth: FakeOAuth, http_proxy: TinyProxy, tmp_path: Path
) -> None:
    events = tmp_path / "events"
    server = servers(_config(fake_oauth, events), extra_env={"HTTP_PROXY": http_proxy.url})
    assert lc.login_with_fake(server) == "at-1"
    for n in (1, 2):
        r = server.cli("refresh", "acct")
        assert r.returncode == 0, r.stderr
        wait_for(lambda: lc.lines(events).count("token_refreshed") >= n, f"refresh {n}")  # noqa: B023
    assert lc.show_token(server) == "at-3"
    posts = [r for r in http_proxy.requests() if r == f"POST {fake_oauth.token_uri}"]
    assert len(posts) == 3  # the exchange and both refreshes
    assert len(fake_oauth.seen) == 3


def test_no_proxy_bypasses_the_proxy(
    servers: ServerFactory, fake_oauth: FakeOAuth, http_proxy: TinyProxy, tmp_path: Path
) -> None:
    events = tmp_path / "events"
    env = {"http_proxy": http_proxy.url, "NO_PROXY": "localhost,127.0.0.1"}
    server = servers(_config(fake_oauth, events), extra_env=env)
    assert lc.login_with_fake(server) == "at-1"
    r = server.cli("refresh", "acct")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: "token_refreshed" in lc.lines(events), "the refresh")
    assert len(fake_oauth.seen) == 2
    assert http_proxy.requests() == []


def test_a_proxy_that_refuses_keeps_the_token(
    servers: ServerFactory, fake_oauth: FakeOAuth, http_proxy: TinyProxy, tmp_path: Path
) -> None:
    """A proxy that cannot be reached is a transient failure: the token stays."""
    events = tmp_path / "events"
    server = servers(
        _config(fake_oauth, events, retry="1h"), extra_env={"HTTP_PROXY": http_proxy.url}
    )
    assert lc.login_with_fake(server) == "at-1"
    http_proxy.stop()
    r = server.cli("refresh", "acct")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: lc.in_log(server, "Transitory refresh error for acct"), "a transient error")
    assert lc.show_token(server) == "at-1"
    assert "token_invalidated" not in lc.lines(events) and len(fake_oauth.seen) == 1
