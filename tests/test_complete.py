"""``pizauth complete ACCOUNT [URL]`` (the bus's ``Complete``): finishing a pending sign-in with
the address the browser ended on, for a browser on another machine or a redirect that never
reached the listener.

The real browser's case: Chromium signs in on oidc-provider's pages, its navigation to pizauth's
listener is cut off (as on another machine), and the address it ended on is pasted. Refusals use
the fake token endpoint, whose requests show that a refused URL spends no code.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest

from harness.browser import chromium, sign_in_and_consent_to
from harness.fakeoauth import FakeOAuth, Reply
from harness.flows import pending_url, url_query
from harness.lifecycle import show_token, wait_for
from harness.notifications import FakeNotifications
from harness.oidc import OidcProvider
from harness.server import PizauthServer, ServerFactory, run_cli
from harness.texts import BOTH, HEAD, PENDING
from pizauth_dbus.cli.pizauth import COMPLETE_LINE

pytestmark = pytest.mark.timeout(60)


def _complete(server: PizauthServer, *args: str, stdin: bytes | None = None) -> tuple[int, str]:
    r = server.cli("complete", *args, input=stdin)
    assert r.stdout == b""
    return r.returncode, r.stderr.decode()


def _redirect(url: str, **params: str) -> str:
    """The address a provider would send the browser to for the pending ``url``."""
    return url_query(url)["redirect_uri"][0] + "?" + urlencode(params)


def test_complete_finishes_a_sign_in_with_a_real_browsers_final_url(
    oidc: OidcProvider, servers: ServerFactory, tmp_path: Path
) -> None:
    server = servers(HEAD + oidc.account_config("work"))
    url = pending_url(server, "work")
    landing = url_query(url)["redirect_uri"][0]
    # The browser is elsewhere: "localhost" there is not this machine, so the redirect never
    # reaches pizauth's listener, and the person copies the address the browser shows.
    with chromium(tmp_path / "chromium", unreachable=["localhost"]) as page:
        page.goto(url)
        ended_on = sign_in_and_consent_to(page, landing)
    assert ended_on.startswith(landing) and "code=" in ended_on, ended_on
    assert show_token(server, "work") is None  # the listener never heard of it

    assert _complete(server, "work", ended_on) == (0, "")
    token = show_token(server, "work")
    assert token is not None and oidc.introspect(token)["active"] is True

    # The code works once: pasting the same address again is refused and changes nothing.
    code, err = _complete(server, "work", ended_on)
    assert code == 1 and err.startswith("ERROR - No sign-in is waiting for 'work'"), err
    assert show_token(server, "work") == token


def test_complete_reads_the_url_from_standard_input(
    servers: ServerFactory, fake_oauth: FakeOAuth
) -> None:
    server = servers(HEAD + fake_oauth.account_config())
    url = pending_url(server, "acct")
    final = _redirect(url, code="test-code", state=url_query(url)["state"][0])
    assert _complete(server, "acct", stdin=final.encode() + b"\n") == (0, "")
    assert show_token(server, "acct") == "at-1"
    fields = fake_oauth.token_fields()
    # PKCE as for the listener: the verifier whose challenge the URL carried, the same redirect.
    assert fields["grant_type"] == "authorization_code" and fields["code"] == "test-code"
    assert fields["redirect_uri"] == url_query(url)["redirect_uri"][0]
    assert len(fields["code_verifier"]) == 86


def test_bad_urls_are_refused_and_change_nothing(
    servers: ServerFactory, fake_oauth: FakeOAuth
) -> None:
    server = servers(HEAD + fake_oauth.account_config())
    url = pending_url(server, "acct")
    state = url_query(url)["state"][0]
    cases = [
        (_redirect(url, code="c", state="not-the-state"), "The URL's state is not that of"),
        ("not a url at all", "Not a URL: paste the whole address"),
        ("http://localhost:1/%zz?code=c", "The URL has no 'state'"),
        (_redirect(url, state=state), "The URL has no 'code'"),
        (
            "http://elsewhere.example/?" + urlencode({"code": "c", "state": state}),
            "The URL does not lead to this sign-in's redirect address",
        ),
        ("", "No URL given"),
    ]
    for bad, text in cases:
        code, err = _complete(server, "acct", stdin=bad.encode())
        assert code == 1 and err.startswith(f"ERROR - {text}"), (bad, err)
    code, err = _complete(server, "nobody", _redirect(url, code="c", state=state))
    assert (code, err) == (1, "ERROR - No account 'nobody'\n")
    # Nothing was spent or changed: no token request, and the same URL is still pending.
    assert fake_oauth.seen == []
    assert pending_url(server, "acct") == url
    # Too many arguments is a usage error, as for every command.
    assert server.cli("complete", "acct", "u", "v").returncode == 1


def test_a_refused_exchange_is_reported_to_the_caller(
    servers: ServerFactory, fake_oauth: FakeOAuth
) -> None:
    server = servers(HEAD + fake_oauth.account_config())
    url = pending_url(server, "acct")
    fake_oauth.script.append(Reply(400, {"error": "invalid_grant", "error_description": "gone"}))
    final = _redirect(url, code="test-code", state=url_query(url)["state"][0])
    code, err = _complete(server, "acct", final)
    assert code == 1
    assert err == "ERROR - Authentication for acct failed: HTTP code 400 (invalid_grant: gone)\n"
    # As after a redirect that failed: the account starts over with a new URL.
    wait_for(lambda: pending_url(server, "acct") != url, "a fresh sign-in")


def test_show_mentions_complete_only_where_the_browser_is_elsewhere(
    servers: ServerFactory, fake_oauth: FakeOAuth
) -> None:
    server = servers(HEAD + fake_oauth.account_config())
    url = pending_url(server, "acct")  # upstream's one line, exactly, outside SSH
    ssh = {**server.env, "SSH_CONNECTION": "192.0.2.1 50000 192.0.2.2 22"}
    r = run_cli(ssh, "show", "acct", command=server.command)
    assert r.returncode == 1
    assert r.stderr.decode() == f"{PENDING}{url}\n{COMPLETE_LINE}"
    # -u keeps upstream's bare line; a display on this machine needs no such help.
    hidden = run_cli(ssh, "show", "-u", "acct", command=server.command)
    assert hidden.stderr.decode() == PENDING + "\n"  # upstream: "... with URL " and no URL
    shown = run_cli({**ssh, "DISPLAY": ":0"}, "show", "acct", command=server.command)
    assert shown.stderr.decode() == f"{PENDING}{url}\n"


def test_the_prompt_mentions_complete_for_a_redirect_that_may_not_land(
    servers: ServerFactory, fake_oauth: FakeOAuth, notifications: FakeNotifications
) -> None:
    secure = fake_oauth.account_config("secure", extra='redirect_uri = "https://localhost/";\n')
    server = servers(BOTH + fake_oauth.account_config("plain") + secure)
    pending_url(server, "plain")
    (plain,) = notifications.wait_sent(1)
    assert "pizauth complete" not in plain.body
    pending_url(server, "secure")
    second = notifications.wait_sent(2)[1]
    assert "copy its address and run: pizauth complete secure ADDRESS" in second.body
