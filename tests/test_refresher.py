"""Refresh against a real authorisation server (oidc-provider): expiry, rotation, revocation,
and the ``refresh`` command in each token state."""

from __future__ import annotations

import time
from pathlib import Path

from harness import lifecycle as lc
from harness.flows import authorise_account, pending_url
from harness.oidc import OidcFactory, OidcProvider
from harness.procs import wait_for
from harness.server import ServerFactory
from harness.texts import HEAD, PENDING
from harness.user import authorise


def _events_hook(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "events"
    return path, lc.setting(
        "token_event_cmd", lc.recorder(path, "PIZAUTH_ACCOUNT", "PIZAUTH_EVENT")
    )


def test_expired_token_is_replaced_by_refresh_without_user_action(
    oidc_factory: OidcFactory, servers: ServerFactory, tmp_path: Path
) -> None:
    oidc = oidc_factory(at_ttl=2)
    events, hook = _events_hook(tmp_path)
    # refresh_before_expiry = 0s: the first token really expires before it is replaced.
    server = servers(HEAD + hook + "refresh_before_expiry = 0s;\n" + oidc.account_config("acct"))
    first, _ = authorise_account(server, "acct")
    assert oidc.introspect(first)["active"] is True

    # Nobody calls `show` (which would itself start a refresh): the refresher acts alone.
    wait_for(lambda: "acct|token_refreshed" in lc.lines(events), "token_refreshed")
    assert lc.lines(events)[:2] == ["acct|token_new", "acct|token_refreshed"]
    second = lc.show_token(server)
    assert second is not None and second != first
    assert oidc.introspect(first)["active"] is False  # it had expired
    assert oidc.introspect(second)["active"] is True
    assert lc.status(server)["acct"].startswith("Active access token (obtained ")


def test_tokens_shorter_than_refresh_before_expiry_do_not_storm(
    oidc_factory: OidcFactory, servers: ServerFactory, tmp_path: Path
) -> None:
    """10 s tokens and the default refresh_before_expiry of 90 s: upstream's rule makes every
    new token due at once, so the server used to refresh thousands of times a second. Half
    the lifetime is the floor: one refresh about 5 s after each token."""
    oidc = oidc_factory(at_ttl=10)
    events, hook = _events_hook(tmp_path)
    server = servers(HEAD + hook + oidc.account_config("acct"))
    authorise_account(server, "acct")
    wait_for(lambda: "acct|token_refreshed" in lc.lines(events), "the first refresh", timeout=15)
    time.sleep(3)  # well within the second token's first half
    assert lc.lines(events) == ["acct|token_new", "acct|token_refreshed"]
    assert server.log().count("Refreshed token for acct") == 1
    assert lc.show_token(server) is not None


def test_rotated_refresh_tokens_are_kept(
    oidc_factory: OidcFactory, servers: ServerFactory, tmp_path: Path
) -> None:
    # Every refresh rotates the refresh token, and reusing an old one revokes the whole grant:
    # two refreshes in a row succeed only if the rotated token was stored.
    oidc = oidc_factory(at_ttl=2, rotate_refresh_tokens=True)
    events, hook = _events_hook(tmp_path)
    server = servers(HEAD + hook + "refresh_before_expiry = 1s;\n" + oidc.account_config("acct"))
    first, _ = authorise_account(server, "acct")
    rt1 = lc.dumped(server)["acct"].token
    assert rt1 is not None and rt1.refresh_token

    wait_for(lambda: lc.lines(events).count("acct|token_refreshed") >= 2, "two refreshes")
    rt3 = lc.dumped(server)["acct"].token
    assert rt3 is not None and rt3.refresh_token not in (None, rt1.refresh_token)
    token = lc.show_token(server)
    assert token is not None and token != first
    assert oidc.introspect(token)["active"] is True
    assert "acct|token_invalidated" not in lc.lines(events)


def test_revoked_grant_empties_the_account(
    oidc: OidcProvider, servers: ServerFactory, tmp_path: Path
) -> None:
    events, hook = _events_hook(tmp_path)
    errors = tmp_path / "errors"
    config = (
        HEAD
        + hook
        + lc.setting("error_notify_cmd", lc.recorder(errors, "PIZAUTH_MSG"))
        + "refresh_before_expiry = 30s;\n"
        + oidc.account_config("acct")
    )
    server = servers(config)
    first_url = pending_url(server, "acct")
    assert authorise(first_url).status == 200
    first = wait_for(lambda: lc.show_token(server), "the first token")
    held = lc.dumped(server)["acct"].token
    assert held is not None and held.refresh_token is not None

    oidc.revoke(held.refresh_token)  # the person withdraws consent at the provider
    r = server.cli("refresh", "acct")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")

    wait_for(lambda: "acct|token_invalidated" in lc.lines(events), "token_invalidated")
    assert lc.status(server)["acct"] == "No access token"
    assert lc.in_log(server, "Permanent refresh error for acct: HTTP code 400 (invalid_grant")
    assert lc.lines(errors) == []  # lifecycle errors don't bother the person (upstream)

    # The next show starts a fresh authorisation, and it works.
    new_url = pending_url(server, "acct")
    assert new_url != first_url
    assert authorise(new_url).status == 200
    again = wait_for(lambda: lc.show_token(server), "a token after re-authorising")
    assert again != first


def test_refresh_command_in_each_state(
    oidc: OidcProvider, servers: ServerFactory, tmp_path: Path
) -> None:
    events, hook = _events_hook(tmp_path)
    server = servers(HEAD + hook + "refresh_before_expiry = 30s;\n" + oidc.account_config("acct"))

    # Empty: refresh starts an authorisation and says so (exit 1), -u without the URL.
    r = server.cli("refresh", "-u", "acct")
    assert (r.returncode, r.stdout, r.stderr) == (1, b"", PENDING.encode() + b"\n")
    url1 = pending_url(server, "acct")

    # Pending: refresh makes a new URL; the old one is dead.
    r = server.cli("refresh", "acct")
    err = r.stderr.decode()
    assert r.returncode == 1 and err.startswith(PENDING)
    url2 = err[len(PENDING) : -1]
    assert url2 != url1
    assert pending_url(server, "acct") == url2
    stale = authorise(url1)
    assert stale.status == 200
    assert "No pending token matches request state: request a fresh token" in stale.body
    assert lc.status(server)["acct"].startswith("Access token pending authentication")

    assert authorise(url2).status == 200
    first = wait_for(lambda: lc.show_token(server), "the first token")

    # Active: refresh returns at once and a new token follows.
    r = server.cli("refresh", "acct")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    wait_for(lambda: "acct|token_refreshed" in lc.lines(events), "token_refreshed")
    second = lc.show_token(server)
    assert second is not None and second != first
    assert lc.show(server, "nope") == (1, "", "ERROR - No account 'nope'\n")
    assert server.cli("refresh", "nope").stderr == b"ERROR - No account 'nope'\n"
