"""Errors that say what to do, end to end: the fake token endpoint answers with each provider's
real error shape, and the hint appears after upstream's message in the log, in
``$PIZAUTH_HINT`` (``$PIZAUTH_MSG`` stays upstream's), in the desktop error notification, in
the bus's ``Errors`` and in ``pizauth-dbus doctor``; an error nobody knows gets none."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.fakeoauth import FakeOAuth, Reply
from harness.flows import pending_url
from harness.lifecycle import (
    in_log,
    lines,
    login_with_fake,
    recorder,
    setting,
    wait_for,
)
from harness.notifications import FakeNotifications
from harness.provider_errors import CASES
from harness.server import PizauthServer, ServerFactory
from harness.texts import HEAD
from harness.user import follow
from pizauth_dbus.config.providers import load

pytestmark = pytest.mark.timeout(120)
DOCTOR = [str(Path(sys.executable).with_name("pizauth-dbus")), "doctor", "--json"]


def _hint(hint_id: str) -> str:
    return next(h.hint for h in load().hints if h.id == hint_id)


def _doctor_fails(server: PizauthServer) -> list[dict[str, Any]]:
    r = subprocess.run(DOCTOR, env=server.env, capture_output=True, timeout=60, check=False)
    doc = json.loads(r.stdout)
    return [c for c in doc["checks"] if c["verdict"] == "fail" and c["area"] == "server"]


def _server(servers: ServerFactory, fake: FakeOAuth, tmp_path: Path, scopes: str) -> PizauthServer:
    block = fake.account_config().replace('scopes = ["mail"];', f"scopes = [{scopes}];")
    hook = recorder(tmp_path / "errors", "PIZAUTH_ACCOUNT", "PIZAUTH_MSG", "PIZAUTH_HINT")
    return servers(HEAD + setting("error_notify_cmd", hook) + block)


REDIRECT_CASES = [c for c in CASES if c[3] != "device"]


@pytest.mark.parametrize(
    ("hint_id", "body"), [(c[0], c[1]) for c in REDIRECT_CASES], ids=[c[0] for c in REDIRECT_CASES]
)
def test_a_refused_code_exchange_says_what_to_do_everywhere(
    hint_id: str,
    body: dict[str, object],
    servers: ServerFactory,
    fake_oauth: FakeOAuth,
    notifications: FakeNotifications,
    tmp_path: Path,
) -> None:
    scopes = '"https://mail.google.com/"' if hint_id.startswith("google") else '"mail"'
    server = _server(servers, fake_oauth, tmp_path, scopes)
    fake_oauth.script.append(Reply(400, body))
    assert follow(pending_url(server, "acct")).status == 200
    wait_for(lambda: lines(tmp_path / "errors") != [], "error_notify_cmd")
    hint = _hint(hint_id)
    words = f"{body['error']}: {body['error_description']}" if "error_description" in body else ""
    upstream = f"Authentication for acct failed: HTTP code 400 ({words or body['error']})"
    # The hook: $PIZAUTH_MSG exactly upstream's message, the hint in $PIZAUTH_HINT.
    assert lines(tmp_path / "errors") == [f"acct|{upstream}|{hint}"]
    # The log: the message, then what to do.
    assert in_log(server, f"{upstream}\n") and in_log(server, f"What to do: {hint}\n")
    # The notification: the provider's words, then what to do, then how to try again.
    sent = next(n for n in notifications.wait_sent(2) if n.summary.startswith("Couldn't"))
    assert f"What to do: {hint}" in sent.body and "pizauth show acct" in sent.body
    # The doctor, from the server's Errors.
    (fail,) = _doctor_fails(server)
    assert fail["text"] == f"account acct: {upstream}" and fail["fix"] == hint


def test_an_unknown_error_gets_no_hint(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    server = _server(servers, fake_oauth, tmp_path, '"mail"')
    fake_oauth.script.append(Reply(400, {"error": "invalid_grant", "error_description": "huh"}))
    assert follow(pending_url(server, "acct")).status == 200
    wait_for(lambda: lines(tmp_path / "errors") != [], "error_notify_cmd")
    upstream = "Authentication for acct failed: HTTP code 400 (invalid_grant: huh)"
    assert lines(tmp_path / "errors") == [f"acct|{upstream}|"]
    assert not in_log(server, "What to do:")
    (fail,) = _doctor_fails(server)
    assert fail["fix"] == "run pizauth show acct to sign in again"
    # A token clears the failure: the doctor has nothing more to say.
    login_with_fake(server)
    assert _doctor_fails(server) == []


@pytest.mark.parametrize("hint_id", ["ms-refresh-inactive", "google-testing-expired"])
def test_a_refresh_token_that_died_says_what_to_do(
    hint_id: str, servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    body = next(c[1] for c in CASES if c[0] == hint_id)
    server = _server(servers, fake_oauth, tmp_path, '"https://mail.google.com/"')
    login_with_fake(server)
    fake_oauth.script.append(Reply(400, body))
    assert server.cli("refresh", "acct").returncode == 0
    hint = _hint(hint_id)
    wait_for(lambda: in_log(server, f"What to do: {hint}\n"), "the hint in the log")
    (fail,) = _doctor_fails(server)
    assert fail["text"].startswith("account acct: Refreshing acct failed: HTTP code 400")
    assert fail["fix"] == hint


def test_device_flow_refusals_say_what_to_do(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:

    # Google refuses the mail scope when the device code is asked for.
    block = fake_oauth.account_config(device=True).replace(
        '"mail", "offline_access"', '"https://mail.google.com/"'
    )
    hook = recorder(tmp_path / "errors", "PIZAUTH_MSG", "PIZAUTH_HINT")
    server = servers(
        HEAD + setting("error_notify_cmd", hook) + block,
        extra_env={"PIZAUTH_DEVICE_INTERVAL": "0.2"},
    )
    fake_oauth.device_script.append(Reply(400, {"error": "invalid_scope"}))
    r = server.cli("show", "acct")
    assert r.returncode == 1 and b"invalid_scope" in r.stderr
    hint = _hint("google-device-mail-scope")
    assert in_log(server, f"What to do: {hint}\n")
    (fail,) = _doctor_fails(server)
    assert fail["fix"] == hint
    # Conditional Access refusing the device code's token, while the server polls.
    body = next(c[1] for c in CASES if c[0] == "ms-conditional-access")
    fake_oauth.script.append(Reply(400, body))
    assert server.cli("show", "acct").returncode == 1
    wait_for(lambda: lines(tmp_path / "errors") != [], "error_notify_cmd")
    (line,) = lines(tmp_path / "errors")
    assert line.endswith("|" + _hint("ms-conditional-access")), line
    assert line.startswith("Authentication for acct failed: invalid_grant: AADSTS53003")
