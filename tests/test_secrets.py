"""No secret leaves the server's memory: a whole token lifetime at the most verbose log level,
then a search of everything written to disk, every log, and every child's argv and environment.

The secrets: both access tokens and both refresh tokens of a login and a refresh, the client
secret, the PKCE verifier, and the HTTPS listener's private key; for the device flow, the
device code too. The config file is left out
of the search: it holds the client secret because the person put it there.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from harness.dbus_daemon import PrivateBus
from harness.fakeoauth import FakeOAuth, Reply, bearer
from harness.flows import pending_url
from harness.lifecycle import in_log, lines, setting, show_token, wait_for
from harness.server import PizauthServer, ServerFactory
from harness.texts import BOTH, HEAD
from harness.user import follow

KEY_MARKERS = (b"PRIVATE KEY-----", b"BEGIN EC PRIVATE")


def _recorder(path: Path) -> str:
    """A hook that appends its own argv (NUL-separated) and its environment to ``path``."""
    return f"{{ cat /proc/$$/cmdline; echo; env; }} >> {path}"


def _tokens() -> dict[str, str]:
    return {"access": secrets.token_urlsafe(32), "refresh": secrets.token_urlsafe(32)}


def test_no_secret_on_disk_in_logs_or_in_childrens_argv(
    servers: ServerFactory, fake_oauth: FakeOAuth, session_bus: PrivateBus, tmp_path: Path
) -> None:
    hooks = tmp_path / "hooks"
    client_secret = secrets.token_urlsafe(24)
    config = (
        BOTH
        + setting("auth_notify_cmd", _recorder(hooks))
        + setting("token_event_cmd", _recorder(hooks))
        + setting("error_notify_cmd", _recorder(hooks))
        + fake_oauth.account_config().replace('"fake-secret"', f'"{client_secret}"')
    )
    server = servers(config, flag="-vvvv")
    first, second = _tokens(), _tokens()
    fake_oauth.script.extend(bearer(t["access"], t["refresh"]) for t in (first, second))
    assert follow(pending_url(server, "acct")).status == 200
    wait_for(lambda: show_token(server) == first["access"], "the first token")
    assert server.cli("refresh", "acct").returncode == 0
    wait_for(lambda: show_token(server) == second["access"], "the refreshed token")
    assert server.cli("dump").returncode == 0  # to standard output, not to disk
    assert server.cli("revoke", "acct").returncode == 0
    wait_for(lambda: in_log(server, "Token event token_revoked"), "the revoke")
    wait_for(lambda: len([x for x in lines(hooks) if x.startswith("PIZAUTH_EVENT=")]) == 3, "hooks")
    verifier = fake_oauth.token_fields(0)["code_verifier"]
    assert fake_oauth.token_fields(0)["client_secret"] == client_secret  # it was sent, though

    wanted = {
        "access token": first["access"],
        "refreshed access token": second["access"],
        "refresh token": first["refresh"],
        "new refresh token": second["refresh"],
        "client secret": client_secret,
        "PKCE verifier": verifier,
    }
    places = _search(server, tmp_path, session_bus)
    assert str(hooks) in places  # and what the hooks saw
    assert _found(places, wanted) == []
    # The search can find things: the hooks' record does hold what they were given.
    assert b"PIZAUTH_ACCOUNT=acct" in places[str(hooks)]


def _search(server: PizauthServer, tmp_path: Path, session_bus: PrivateBus) -> dict[str, bytes]:
    """Every place a secret could have leaked to: the server's argv and environment, and every
    file under the test's directories but the config."""
    pid = server.pid
    places: dict[str, bytes] = {
        "the server's argv": Path(f"/proc/{pid}/cmdline").read_bytes(),
        "the server's environment": Path(f"/proc/{pid}/environ").read_bytes(),
    }
    for root in (tmp_path, session_bus.dir):
        for path in root.rglob("*"):
            if path.is_file() and path != server.config_path:
                places[str(path)] = path.read_bytes()
    assert any("server" in p and p.endswith(".log") for p in places)  # the log was searched
    return places


def _found(places: dict[str, bytes], wanted: dict[str, str]) -> list[tuple[str, str]]:
    """(what, where) for every secret in ``wanted`` or private key found in ``places``."""
    found = [
        (what, where)
        for where, data in places.items()
        for what, secret in wanted.items()
        if secret.encode() in data
    ]
    found += [
        ("a private key", where)
        for where, data in places.items()
        if any(marker in data for marker in KEY_MARKERS)
    ]
    return found


def test_no_device_code_or_token_of_the_device_flow_leaks(
    servers: ServerFactory, fake_oauth: FakeOAuth, session_bus: PrivateBus, tmp_path: Path
) -> None:
    hooks = tmp_path / "hooks"
    client_secret = secrets.token_urlsafe(24)
    device_code = secrets.token_urlsafe(32)
    config = (
        HEAD
        + setting("auth_notify_cmd", _recorder(hooks))
        + setting("token_event_cmd", _recorder(hooks))
        + fake_oauth.account_config(device=True).replace('"fake-secret"', f'"{client_secret}"')
    )
    server = servers(config, flag="-vvvv")
    fake_oauth.device_script = [
        Reply(
            json={
                "device_code": device_code,
                "user_code": "USER-CODE",
                "verification_uri": f"{fake_oauth.url}/verify",
                "expires_in": 600,
                "interval": 1,
            }
        )
    ]
    first, second = _tokens(), _tokens()
    fake_oauth.script = [Reply(400, {"error": "authorization_pending"})] + [
        bearer(t["access"], t["refresh"]) for t in (first, second)
    ]
    assert server.cli("show", "acct").returncode == 1
    wait_for(lambda: show_token(server) == first["access"], "the first token", timeout=20)
    assert fake_oauth.token_fields(0)["device_code"] == device_code  # it was sent, though
    assert server.cli("refresh", "acct").returncode == 0
    wait_for(lambda: show_token(server) == second["access"], "the refreshed token")
    wait_for(lambda: len([x for x in lines(hooks) if x.startswith("PIZAUTH_EVENT=")]) == 2, "hooks")
    wanted = {
        "device code": device_code,
        "access token": first["access"],
        "refreshed access token": second["access"],
        "refresh token": first["refresh"],
        "new refresh token": second["refresh"],
        "client secret": client_secret,
    }
    places = _search(server, tmp_path, session_bus)
    assert _found(places, wanted) == []
    assert b"PIZAUTH_USER_CODE=USER-CODE" in places[str(hooks)]  # the search does find things
