"""The device authorization grant (RFC 8628), end to end against oidc-provider's device flow.

The real server and CLI on a private bus; the person is :func:`harness.user.enter_user_code`,
who opens the verification page, types the code ``pizauth show`` printed, signs in and consents
(or aborts). The server polls every 0.2 s here (``PIZAUTH_DEVICE_INTERVAL``: oidc-provider names
no interval, and RFC 8628's default of 5 s would only make the tests slower).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from harness.flows import device_code, wait_for_token
from harness.lifecycle import in_log, lines, recorder, setting, status, wait_for
from harness.oidc import OidcFactory, OidcProvider
from harness.procs import wait_until
from harness.server import PizauthServer, ServerFactory
from harness.texts import HEAD, PENDING
from harness.user import enter_user_code

POLL = {"PIZAUTH_DEVICE_INTERVAL": "0.2"}
WAITING = "Access token pending authentication: waiting for the code to be entered"


def _server(servers: ServerFactory, oidc: OidcProvider, tmp_path: Path) -> PizauthServer:
    """A server with one device flow account, ``dev``, whose hooks write into ``tmp_path``."""
    return servers(
        HEAD
        + setting(
            "error_notify_cmd", recorder(tmp_path / "errors", "PIZAUTH_ACCOUNT", "PIZAUTH_MSG")
        )
        + setting("token_event_cmd", recorder(tmp_path / "events", "PIZAUTH_EVENT"))
        + setting(
            "auth_notify_cmd",
            recorder(
                tmp_path / "notify",
                "PIZAUTH_URL",
                "PIZAUTH_VERIFICATION_URI",
                "PIZAUTH_USER_CODE",
            ),
        )
        + "refresh_before_expiry = 2s;\n"
        + oidc.account_config("dev", device=True),
        extra_env=POLL,
    )


def _polls(provider: OidcProvider) -> int:
    """How many polls oidc-provider has answered with authorization_pending."""
    return provider.log().count("grant.error authorization_pending ")


def test_sign_in_with_a_code_then_the_token_works_and_refreshes(
    servers: ServerFactory, oidc: OidcProvider, tmp_path: Path
) -> None:
    server = _server(servers, oidc, tmp_path)
    uri, code = device_code(server, "dev")
    assert uri == f"{oidc.issuer}/device"
    assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", code), code
    # Asked again, the same code: no second request replaces the first.
    r = server.cli("show", "dev")
    assert r.stderr.decode() == f"{PENDING}{uri} and code {code}\n"
    assert status(server)["dev"].startswith(WAITING)
    # auth_notify_cmd gets the page with the code filled in, the bare page, and the code.
    wait_for(lambda: lines(tmp_path / "notify"), "auth_notify_cmd")
    assert lines(tmp_path / "notify") == [f"{uri}?user_code={code}|{uri}|{code}"]
    wait_for(lambda: _polls(oidc) > 0, "polling")

    page = enter_user_code(uri, code)
    assert page.status == 200 and "Sign-in Success" in page.body, page.body
    token = wait_for_token(server, "dev")
    assert oidc.introspect(token)["active"] is True
    assert status(server)["dev"].startswith("Active access token (obtained ")
    assert lines(tmp_path / "events") == ["token_new"]

    # From now on the account refreshes like any other.
    assert server.cli("refresh", "dev").returncode == 0
    wait_for(lambda: lines(tmp_path / "events") == ["token_new", "token_refreshed"], "refresh")
    new = wait_for_token(server, "dev")
    assert new != token and oidc.introspect(new)["active"] is True
    assert lines(tmp_path / "errors") == []


def test_a_person_who_aborts_ends_the_attempt_with_the_error_hooks(
    servers: ServerFactory, oidc: OidcProvider, tmp_path: Path
) -> None:
    server = _server(servers, oidc, tmp_path)
    uri, code = device_code(server, "dev")
    page = enter_user_code(uri, code, abort=True)
    assert "The Sign-in request was interrupted" in page.body, page.body
    wait_for(lambda: lines(tmp_path / "errors"), "error_notify_cmd")
    assert lines(tmp_path / "errors") == [
        "dev|Authentication for dev failed: access_denied: End-User aborted interaction"
    ]
    assert status(server)["dev"] == "No access token"
    assert in_log(server, "ERROR - Authentication for dev failed: access_denied")
    # The next show starts again with a new code.
    again_uri, again = device_code(server, "dev")
    assert (again_uri, lines(tmp_path / "events")) == (uri, [])
    assert again != code


def test_an_expired_code_is_replaced_by_the_next_show(
    servers: ServerFactory, oidc_factory: OidcFactory, tmp_path: Path
) -> None:
    provider = oidc_factory(device_code_ttl=2)
    server = _server(servers, provider, tmp_path)
    _, code = device_code(server, "dev")
    # Quietly: no error hook, no event; the account is simply without a token again.
    wait_for(lambda: status(server)["dev"] == "No access token", "the code to expire")
    assert in_log(server, "The device code for dev expired unused")
    _, new = device_code(server, "dev")
    assert new != code
    assert lines(tmp_path / "errors") == [] and lines(tmp_path / "events") == []


def test_revoke_stops_the_polling(
    servers: ServerFactory, oidc: OidcProvider, tmp_path: Path
) -> None:
    server = _server(servers, oidc, tmp_path)
    uri, code = device_code(server, "dev")
    before = _polls(oidc)
    wait_for(lambda: _polls(oidc) >= before + 2, "polling")
    assert server.cli("revoke", "dev").returncode == 0
    wait_for(lambda: in_log(server, "Stopped polling for dev's device code"), "polling to stop")
    stopped = _polls(oidc)
    time.sleep(1.0)  # five polling intervals
    assert _polls(oidc) == stopped
    # Entering the code now gives the server nothing: it no longer asks.
    assert "Sign-in Success" in enter_user_code(uri, code).body
    assert not wait_until(lambda: status(server)["dev"] != "No access token", 1.0)
    assert lines(tmp_path / "events") == ["token_revoked"]
