"""The device flow (RFC 8628) against the fault-injecting fake endpoint: what oidc-provider
does not do on demand (``slow_down``, Google's and Microsoft's answers, malformed device codes,
transport failures while polling), and the desktop prompt with the code.

The fake's device endpoint (``POST /device``) issues ``CODE-0001``, ``CODE-0002``, ... with
``interval`` 1 unless told otherwise; its token endpoint answers device-code polls with
``authorization_pending`` until ``device_approved`` is set.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.desktop import WAIT, opened, start
from harness.fakeoauth import DEVICE_GRANT, FAST_DEVICE_POLLING, FakeOAuth, Reply
from harness.flows import device_code, wait_for_token
from harness.lifecycle import in_log, lines, recorder, setting, status, wait_for
from harness.monitor import PizauthMonitor
from harness.notifications import FakeNotifications
from harness.procs import wait_until
from harness.server import PizauthServer, ServerFactory
from harness.texts import HEAD, PENDING


def hooks(tmp_path: Path) -> str:
    """error_notify_cmd, auth_notify_cmd and token_event_cmd, writing into ``tmp_path``."""
    return (
        setting("error_notify_cmd", recorder(tmp_path / "errors", "PIZAUTH_MSG"))
        + setting("token_event_cmd", recorder(tmp_path / "events", "PIZAUTH_EVENT"))
        + setting(
            "auth_notify_cmd",
            recorder(
                tmp_path / "notify", "PIZAUTH_URL", "PIZAUTH_VERIFICATION_URI", "PIZAUTH_USER_CODE"
            ),
        )
    )


def test_slow_down_adds_five_seconds_to_the_interval(
    servers: ServerFactory, fake_oauth: FakeOAuth
) -> None:
    server = servers(HEAD + fake_oauth.account_config(device=True))
    fake_oauth.script = [Reply(400, {"error": "slow_down"})]
    fake_oauth.device_approved = True
    uri, code = device_code(server, "acct")
    assert (uri, code) == (f"{fake_oauth.url}/verify", "CODE-0001")
    # What RFC 8628 asks for, the secret sent as the other token requests send it.
    assert fake_oauth.device_seen == [
        [
            ("client_id", "fake-client"),
            ("scope", "mail offline_access"),
            ("client_secret", "fake-secret"),
        ]
    ]
    token = wait_for_token(server, "acct", timeout=15)
    assert token == "at-1"
    assert (
        fake_oauth.seen
        == [
            [
                ("grant_type", DEVICE_GRANT),
                ("device_code", "device-code-1"),
                ("client_id", "fake-client"),
                ("client_secret", "fake-secret"),
            ]
        ]
        * 2
    )
    first, second = fake_oauth.seen_at
    assert 5.9 <= second - first < 8.0, second - first  # interval 1 s, plus 5 s
    assert in_log(server, "Polling for acct every 6 s, as the provider asks")


def test_authorization_pending_then_success(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    fake_oauth.device_interval = None  # the default interval, 0.2 s here
    server = servers(
        HEAD + hooks(tmp_path) + fake_oauth.account_config(device=True),
        extra_env=FAST_DEVICE_POLLING,
    )
    # Google's statuses for "not yet" (428), and a provider that stumbles (503): keep polling.
    fake_oauth.script = [
        Reply(428, {"error": "authorization_pending"}),
        Reply(503, text="busy"),
    ]
    device_code(server, "acct")
    wait_for(lambda: fake_oauth.device_polls() >= 5, "polling")
    # After the 503 (the second poll) the interval doubles, as RFC 8628 recommends.
    assert fake_oauth.seen_at[2] - fake_oauth.seen_at[1] >= 0.38, fake_oauth.seen_at
    assert status(server)["acct"].startswith(
        "Access token pending authentication: waiting for the code to be entered"
    )
    assert lines(tmp_path / "events") == [] and lines(tmp_path / "errors") == []
    fake_oauth.device_approved = True
    assert wait_for_token(server, "acct") == "at-1"
    wait_for(lambda: lines(tmp_path / "events") == ["token_new"], "token_new")
    count = fake_oauth.device_polls()
    assert not wait_until(lambda: fake_oauth.device_polls() > count, 1.0)  # done polling
    # The token refreshes as any other, at the token endpoint with the refresh token.
    assert server.cli("refresh", "acct").returncode == 0
    wait_for(lambda: lines(tmp_path / "events")[-1:] == ["token_refreshed"], "the refresh")
    assert fake_oauth.token_fields()["grant_type"] == "refresh_token"


def test_verification_url_and_a_message_as_google_and_microsoft_send_them(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    page = f"{fake_oauth.url}/google/device"
    fake_oauth.device_script = [
        Reply(
            json={
                "device_code": "g-device-code",
                "user_code": "GQVQ-JKEC",
                "verification_url": page,  # Google's spelling; no verification_uri_complete
                "expires_in": 1800,
                "interval": 5,
                "message": "To sign in, use a web browser to open the page and enter the code.",
            }
        )
    ]
    server = servers(HEAD + hooks(tmp_path) + fake_oauth.account_config(device=True))
    mon = PizauthMonitor(server)
    try:
        mon.wait_for(r"owned by|org\.pizauth", timeout=10)
        r = server.cli("show", "acct")
        assert r.returncode == 1
        assert r.stderr.decode() == f"{PENDING}{page} and code GQVQ-JKEC\n"
        line = mon.wait_for(r"org\.pizauth\.Manager\.AuthNeeded")
        assert f"('acct', '{page}')" in line
        line = mon.wait_for(r"org\.pizauth\.Manager\.DeviceAuthNeeded")
        assert f"('acct', '{page}', 'GQVQ-JKEC', '')" in line
    finally:
        mon.stop()
    wait_for(lambda: lines(tmp_path / "notify"), "auth_notify_cmd")
    assert lines(tmp_path / "notify") == [f"{page}|{page}|GQVQ-JKEC"]


MALFORMED = [
    (Reply(text="{not json"), "Invalid JSON: "),
    (Reply(json=["a list"]), "the device authorisation answer is not a JSON object"),
    (
        Reply(json={"device_code": "d", "verification_uri": "https://x.test/", "expires_in": 9}),
        "the device authorisation answer has no valid 'user_code'",
    ),
    (
        Reply(json={"device_code": "d", "user_code": "A\nB", "verification_uri": "https://x/"}),
        "the device authorisation answer has no valid 'user_code'",
    ),
    (
        Reply(json={"device_code": "d", "user_code": "AB", "expires_in": 9}),
        "the device authorisation answer has no 'verification_uri'",
    ),
    (
        Reply(
            json={
                "device_code": "d",
                "user_code": "AB",
                "verification_uri": "javascript:alert(1)",
                "expires_in": 9,
            }
        ),
        "the device authorisation answer's 'verification_uri' is not an http or https URL",
    ),
    (
        Reply(
            json={
                "device_code": "d",
                "user_code": "AB",
                "verification_uri": "https://x.test/",
                "verification_uri_complete": "file:///etc/passwd",
                "expires_in": 9,
            }
        ),
        "the device authorisation answer's 'verification_uri_complete' is not an http or https URL",
    ),
    (
        Reply(
            json={
                "device_code": "d",
                "user_code": "AB",
                "verification_uri": "https://x.test/",
                "expires_in": "600",
            }
        ),
        "the device authorisation answer has no valid 'expires_in'",
    ),
    (
        Reply(
            json={
                "device_code": "d",
                "user_code": "AB",
                "verification_uri": "https://x.test/",
                "expires_in": 600,
                "interval": "5",
            }
        ),
        "the device authorisation answer's 'interval' is not a number",
    ),
    (
        Reply(
            401, {"error": "invalid_client", "error_description": "client authentication failed"}
        ),
        "HTTP code 401 (invalid_client: client authentication failed)",
    ),
    (Reply(json={"error": "unauthorized_client"}), "unauthorized_client"),
    (Reply(502, text="<html>bad gateway</html>"), "HTTP code 502"),
]


def test_malformed_device_answers_give_a_clear_error_and_change_nothing(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    server = servers(HEAD + hooks(tmp_path) + fake_oauth.account_config(device=True))
    fake_oauth.device_script = [reply for reply, _ in MALFORMED]
    for _, expected in MALFORMED:
        r = server.cli("show", "acct")
        err = r.stderr.decode()
        assert r.returncode == 1 and r.stdout == b"", err
        assert err.startswith(f"ERROR - Can't get a device code for acct: {expected}"), err
        assert err.count("\n") == 1, err
        assert status(server)["acct"] == "No access token"
    log = server.log()
    assert "Traceback" not in log and "Can't get a device code for acct: HTTP code 401" in log
    # Nothing else happened: no poll, no hook, no event; and the next good answer works.
    assert fake_oauth.seen == []
    assert [lines(tmp_path / f) for f in ("errors", "events", "notify")] == [[], [], []]
    assert device_code(server, "acct")[1] == f"CODE-{len(MALFORMED) + 1:04d}"


def test_a_slow_provider_times_out_and_two_shows_at_once_share_one_code(
    servers: ServerFactory, fake_oauth: FakeOAuth
) -> None:
    server = servers(
        HEAD + fake_oauth.account_config(device=True),
        extra_env={"PIZAUTH_DEVICE_REQUEST_TIMEOUT": "0.5"},
    )
    fake_oauth.device_script = [Reply(delay=5.0)]
    r = server.cli("show", "acct")
    assert r.stderr.decode() == (
        f"ERROR - Can't get a device code for acct: no answer from {fake_oauth.device_uri} "
        "within 0.5 s\n"
    )
    assert status(server)["acct"] == "No access token"
    # Two mail programs ask at once, while the provider takes its time: one code for both.
    fake_oauth.device_script = [
        Reply(
            delay=0.3,
            json={
                "device_code": "shared",
                "user_code": "SHARED",
                "verification_uri": f"{fake_oauth.url}/verify",
                "expires_in": 600,
            },
        )
    ]
    shows = [
        subprocess.Popen(
            [*server.command, "show", "acct"],
            env=server.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    errs = [p.communicate(timeout=20)[1].decode() for p in shows]
    assert errs == [f"{PENDING}{fake_oauth.url}/verify and code SHARED\n"] * 2
    assert fake_oauth.devices == 2  # the slow one, and one for both


def test_expiry_and_denial_from_the_provider(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    server = servers(
        HEAD + hooks(tmp_path) + fake_oauth.account_config(device=True),
        extra_env=FAST_DEVICE_POLLING,
    )
    # A code that lives one second, polled every five: it expires before the first poll.
    fake_oauth.device_script = [
        Reply(
            json={
                "device_code": "short",
                "user_code": "SHORT",
                "verification_uri": f"{fake_oauth.url}/verify",
                "expires_in": 1,
                "interval": 5,
            }
        )
    ]
    assert device_code(server, "acct")[1] == "SHORT"
    wait_for(lambda: status(server)["acct"] == "No access token", "the code to expire")
    assert fake_oauth.seen == []
    # The provider says the code expired: quietly over too; the next show has a new code.
    fake_oauth.script = [Reply(400, {"error": "expired_token"})]
    assert device_code(server, "acct")[1] == "CODE-0002"
    wait_for(lambda: status(server)["acct"] == "No access token", "expired_token")
    assert lines(tmp_path / "errors") == []
    # The provider says no: the error hook hears it, the account starts again.
    fake_oauth.script = [Reply(400, {"error": "access_denied", "error_description": "no"})]
    assert device_code(server, "acct")[1] == "CODE-0003"
    wait_for(lambda: lines(tmp_path / "errors"), "error_notify_cmd")
    assert lines(tmp_path / "errors") == ["Authentication for acct failed: access_denied: no"]
    assert status(server)["acct"] == "No access token"
    assert lines(tmp_path / "events") == []


def test_reload_that_removes_the_account_and_stop_end_the_polling(
    servers: ServerFactory, fake_oauth: FakeOAuth
) -> None:
    server = servers(
        HEAD
        + fake_oauth.account_config(device=True)
        + fake_oauth.account_config("other", device=True),
        extra_env=FAST_DEVICE_POLLING,
    )
    assert device_code(server, "acct")[1] == "CODE-0001"
    # refresh replaces the code (the old one is no longer polled for), as it replaces a URL.
    assert device_code(server, "acct", "refresh")[1] == "CODE-0002"
    wait_for(lambda: in_log(server, "Stopped polling for acct's device code"), "the old code")
    assert device_code(server, "other")[1] == "CODE-0003"
    wait_for(lambda: fake_oauth.device_polls() >= 4, "polling")
    assert "device-code-2" in {fake_oauth.token_fields(i)["device_code"] for i in range(4)}
    server.write_config(HEAD + fake_oauth.account_config("other", device=True))
    assert server.cli("reload").returncode == 0
    wait_for(lambda: server.log().count("Stopped polling for acct's device code") == 2, "acct")
    # Only "other" is polled for now.
    wait_for(lambda: fake_oauth.token_fields()["device_code"] == "device-code-3", "a poll")
    n = fake_oauth.device_polls()
    wait_for(lambda: fake_oauth.device_polls() >= n + 3, "more polls")
    assert {
        fake_oauth.token_fields(i)["device_code"] for i in range(n, fake_oauth.device_polls())
    } == {"device-code-3"}
    # Stopping the server while it polls: a clean exit, at once.
    assert server.stop(shutdown_wait=5) == 0


def test_the_desktop_prompt_shows_the_code_and_opens_the_page_with_it(
    servers: ServerFactory,
    fake_oauth: FakeOAuth,
    notifications: FakeNotifications,
    browser: Path,
) -> None:
    server: PizauthServer = start(
        servers, "https_listen = none;\n" + fake_oauth.account_config(device=True), browser
    )
    uri, code = device_code(server, "acct")
    (n,) = notifications.wait_sent(1)
    assert n.summary == "Account “acct” needs authorising"
    assert code in n.body and "any other device" in n.body, n.body
    notifications.click(n.id, "authorise", keep=True)  # kept, as "resident" asks
    assert wait_until(lambda: opened(browser) == [f"{uri}?user_code={code}"], WAIT), opened(browser)
    fake_oauth.device_approved = True
    wait_for_token(server, "acct")
    assert wait_until(lambda: notifications.closed == [n.id], WAIT), notifications.closed

    # A refused code gets the error notification, as a failed redirect does.
    assert server.cli("revoke", "acct").returncode == 0
    fake_oauth.script = [Reply(400, {"error": "access_denied"})]
    device_code(server, "acct")
    sent = notifications.wait_sent(3)
    assert sent[2].summary == "Couldn't authorise “acct”", sent
    assert "access_denied" in sent[2].body


def test_show_u_hides_the_url_and_the_code(servers: ServerFactory, fake_oauth: FakeOAuth) -> None:
    server = servers(HEAD + fake_oauth.account_config(device=True))
    r = server.cli("show", "-u", "acct")
    assert (r.returncode, r.stderr.decode()) == (1, PENDING + "\n")
    assert fake_oauth.devices == 1  # the code was still asked for: the prompt has it
