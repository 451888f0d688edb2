"""The test infrastructure works on its own, before any pizauth code is involved.

A stand-in listener (``http.server`` in a thread) plays pizauth's redirect listener; a stub
process plays the pizauth server.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import secrets
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.certs import self_signed_server_context
from harness.dbus_daemon import PrivateBus
from harness.fakeoauth import FakeOAuth, Reply
from harness.oidc import (
    CLIENT_ID,
    CLIENT_SECRET,
    HTTPS_CLIENT_ID,
    OidcFactory,
    OidcProvider,
    post_form,
)
from harness.procs import group_alive, popen_ready, stop_group, wait_until
from harness.server import BUS_NAME, PizauthServer, run_cli
from harness.user import authorise, follow, unverified_ssl_context

# -- helpers ---------------------------------------------------------------------------------


@dataclass
class Listener:
    """A loopback HTTP server recording the query of each GET and answering ``status``."""

    port: int
    scheme: str = "http"
    status: int = 200
    body: bytes = b"stand-in listener: got it"
    queries: list[dict[str, str]] = field(default_factory=list)

    @property
    def redirect_uri(self) -> str:
        # localhost, as pizauth's default redirect URI: authorise() must reach 127.0.0.1.
        return f"{self.scheme}://localhost:{self.port}/"


def _start_listener(tls: ssl.SSLContext | None) -> tuple[Listener, Callable[[], None]]:
    state = Listener(port=0, scheme="https" if tls else "http")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            state.queries.append({k: v[0] for k, v in query.items()})
            self.send_response(state.status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return state, stop


@pytest.fixture
def listener() -> Iterator[Listener]:
    state, stop = _start_listener(None)
    try:
        yield state
    finally:
        stop()


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class AuthRequest:
    url: str
    state: str
    verifier: str
    redirect_uri: str
    client_id: str


def auth_request(oidc: OidcProvider, redirect_uri: str, client_id: str = CLIENT_ID) -> AuthRequest:
    """An authorisation URL as pizauth builds one: code + PKCE S256, offline access, consent."""
    verifier = b64url(secrets.token_bytes(32))
    state = b64url(secrets.token_bytes(8))
    query = {
        "access_type": "offline",
        "code_challenge": b64url(hashlib.sha256(verifier.encode()).digest()),
        "code_challenge_method": "S256",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "state": state,
        "scope": "openid offline_access",
        "prompt": "consent",
    }
    url = f"{oidc.auth_uri}?{urllib.parse.urlencode(query)}"
    return AuthRequest(url, state, verifier, redirect_uri, client_id)


def exchange(oidc: OidcProvider, request: AuthRequest, code: str) -> tuple[int, dict[str, Any]]:
    """The token request for ``code``, as pizauth sends it after ``request`` (PKCE verifier,
    same redirect URI and client): the status and the JSON body."""
    return oidc.token(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": request.redirect_uri,
            "code_verifier": request.verifier,
            "client_id": request.client_id,
            "client_secret": CLIENT_SECRET,
        }
    )


# -- the private bus -------------------------------------------------------------------------


def test_bus_answers_gdbus(session_bus: PrivateBus, pizauth_env: dict[str, str]) -> None:
    out = subprocess.run(
        [
            "gdbus",
            "call",
            "--session",
            "--dest",
            "org.freedesktop.DBus",
            "--object-path",
            "/org/freedesktop/DBus",
            "--method",
            "org.freedesktop.DBus.ListNames",
        ],
        env=pizauth_env,
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert "'org.freedesktop.DBus'" in out.stdout


def test_bus_answers_busctl(session_bus: PrivateBus, pizauth_env: dict[str, str]) -> None:
    out = subprocess.run(
        [
            "busctl",
            "--user",
            "call",
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "GetNameOwner",
            "s",
            "org.freedesktop.DBus",
        ],
        env=pizauth_env,
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert out.stdout.strip() == 's "org.freedesktop.DBus"'


def test_bus_is_private(session_bus: PrivateBus, pizauth_env: dict[str, str]) -> None:
    assert pizauth_env["DBUS_SESSION_BUS_ADDRESS"] == session_bus.address
    assert os.environ["DBUS_SESSION_BUS_ADDRESS"] == session_bus.address
    assert session_bus.address.startswith(f"unix:path={session_bus.socket_dir}/")
    assert len(str(session_bus.socket_dir)) < 60
    assert session_bus.list_activatable_names() == ["org.freedesktop.DBus"]
    assert session_bus.connection_count() == 0


def test_a_bus_starts_whatever_the_temporary_directory(
    pizauth_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process whose TMPDIR is deep (the demo, run by a test on a pytest-xdist worker, has
    the test's tmp_path) once got "Socket name too long" from dbus-daemon."""
    deep = tmp_path / ("d" * 60)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    with PrivateBus(pizauth_env) as bus:
        assert bus.name_has_owner("org.freedesktop.DBus")
        assert len(bus.address) < 120, bus.address
    assert not bus.dir.exists()


def test_a_program_that_never_says_it_is_ready_is_stopped(tmp_path: Path) -> None:
    log = tmp_path / "log"
    env = {"PATH": "/usr/bin:/bin"}
    with pytest.raises(RuntimeError, match="exited before telling its number") as exited:
        popen_ready(
            lambda fd: ["sh", "-c", "echo bye; exit 3"],
            what="number",
            env=env,
            log_path=log,
            timeout=5,
        )
    assert "bye" in str(exited.value)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"no number within 0\.5 s"):
        popen_ready(lambda fd: ["sleep", "30"], what="number", env=env, log_path=log, timeout=0.5)
    assert time.monotonic() - started < 5
    assert not wait_until(lambda: "sleep 30" in _commands(), 0.1)
    proc, line = popen_ready(
        lambda fd: [
            sys.executable,
            "-c",
            f"import os, time; os.write({fd}, b' 42 \\n'); time.sleep(30)",
        ],
        what="number",
        env=env,
        log_path=log,
        timeout=5,
    )
    assert line == "42"
    assert stop_group(proc) == -signal.SIGTERM


def _commands() -> list[str]:
    """The command lines of this process's children."""
    out = subprocess.run(
        ["ps", "-o", "args=", "--ppid", str(os.getpid())],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.splitlines()


def test_name_owner_and_connection_count(session_bus: PrivateBus) -> None:
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection

    name = "org.pizauth.SupportTest"
    assert not session_bus.name_has_owner(name)
    with open_dbus_connection(bus=session_bus.address) as conn:
        reply = conn.send_and_get_reply(message_bus.RequestName(name), timeout=5)
        assert reply.body == (1,)  # primary owner
        assert session_bus.name_has_owner(name)
        assert session_bus.name_owner_pid(name) == os.getpid()
        assert session_bus.connection_count() == 1
    assert wait_until(lambda: not session_bus.name_has_owner(name), 5)
    assert session_bus.connection_count() == 0
    assert session_bus.name_owner_pid(name) is None


SERVICE_SCRIPT = """\
import os, sys
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

conn = open_dbus_connection(bus=os.environ["DBUS_STARTER_ADDRESS"])
with open(sys.argv[2], "w") as f:
    f.write(os.environ.get("SUPPORT_MARK", "") + "," + os.environ.get("SUPPORT_PUSHED", ""))
conn.send_and_get_reply(message_bus.RequestName(sys.argv[1]), timeout=5)
while True:
    conn.receive()
"""


def test_activation_inherits_bus_environment(tmp_path: Path) -> None:
    """A service file in services_dir is activated with the daemon's environment; stopping the
    bus leaves no process behind."""
    env = {"PATH": "/usr/bin:/bin", "SUPPORT_MARK": "from-bus-env"}
    script, out = tmp_path / "service.py", tmp_path / "service-env"
    script.write_text(SERVICE_SCRIPT)
    name = "org.pizauth.SupportActivated"
    with PrivateBus(env) as bus:
        bus.add_service(name, [sys.executable, str(script), name, str(out)])
        assert name in bus.list_activatable_names()
        bus.update_activation_environment({"SUPPORT_PUSHED": "pushed"})
        assert bus.start_service(name) == 1
        assert bus.name_has_owner(name)
        service_pid = bus.name_owner_pid(name)
        assert service_pid is not None and service_pid != bus.pid
        bus_pid = bus.pid
    assert out.read_text() == "from-bus-env,pushed"
    assert not group_alive(bus_pid)
    assert not Path(f"/proc/{service_pid}").exists() or "Z" in _proc_state(service_pid)


def _proc_state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "gone"
    return stat[stat.rfind(")") + 2 :].split()[0]


# -- oidc-provider driven by the stand-in user -----------------------------------------------


def test_code_pkce_flow_introspect_revoke(oidc: OidcProvider, listener: Listener) -> None:
    request = auth_request(oidc, listener.redirect_uri)
    result = authorise(request.url)
    assert result.status == 200
    assert result.body == listener.body.decode()
    assert result.url.startswith(listener.redirect_uri)
    assert len(listener.queries) == 1
    assert result.query == listener.queries[0]
    assert result.query["state"] == request.state
    assert result.query["iss"] == oidc.issuer

    status, tokens = exchange(oidc, request, result.query["code"])
    assert status == 200, tokens
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 600  # the shared provider's 10-minute tokens
    assert "refresh_token" in tokens  # thanks to prompt=consent

    introspection = oidc.introspect(tokens["access_token"])
    assert introspection["active"] is True
    assert introspection["client_id"] == CLIENT_ID
    assert introspection["sub"] == "alice"

    oidc.revoke(tokens["access_token"])
    assert oidc.introspect(tokens["access_token"]) == {"active": False}

    oidc.revoke(tokens["refresh_token"], token_type_hint="refresh_token")
    status, error = oidc.token(
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
    )
    assert (status, error["error"]) == (400, "invalid_grant")


def test_authorise_returns_listener_error(oidc: OidcProvider, listener: Listener) -> None:
    listener.status, listener.body = 400, b"bad request from the listener"
    result = authorise(auth_request(oidc, listener.redirect_uri).url, login="bob")
    assert result.status == 400
    assert result.body == "bad request from the listener"
    assert "code" in result.query


def test_https_redirect_to_self_signed_listener(oidc_factory: OidcFactory, tmp_path: Path) -> None:
    """The web client with an exact https://localhost redirect, as pizauth's HTTPS listener."""
    tls_listener, stop = _start_listener(self_signed_server_context(tmp_path))
    try:
        provider = oidc_factory(https_redirects=[tls_listener.redirect_uri])
        request = auth_request(provider, tls_listener.redirect_uri, client_id=HTTPS_CLIENT_ID)
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            authorise(request.url)
        result = authorise(request.url, ssl_context=unverified_ssl_context())
        assert result.status == 200
        assert result.query["state"] == request.state
        status, tokens = exchange(provider, request, result.query["code"])
        assert status == 200, tokens
    finally:
        stop()


def test_follow_without_login(oidc: OidcProvider, listener: Listener) -> None:
    # An unknown client: oidc-provider shows an error page itself, no redirect.
    bad = auth_request(oidc, listener.redirect_uri, client_id="no-such-client")
    result = follow(bad.url)
    assert result.status == 400
    assert result.url.startswith(oidc.auth_uri)
    assert listener.queries == []

    # No login: follow() stops on the login page.
    result = follow(auth_request(oidc, listener.redirect_uri).url)
    assert result.status == 200
    assert "/interaction/" in result.url
    assert 'name="login"' in result.body


def test_per_test_provider_settings(oidc_factory: OidcFactory) -> None:
    provider = oidc_factory(at_ttl=5, https_redirects=["https://localhost:18443/"])
    with urllib.request.urlopen(provider.discovery_uri, timeout=5) as response:
        discovery = json.load(response)
    assert discovery["issuer"] == provider.issuer
    assert discovery["token_endpoint"] == provider.token_uri
    assert discovery["authorization_endpoint"] == provider.auth_uri
    text = provider.account_config("acct", extra="refresh_before_expiry = 2s;")
    assert text.startswith('account "acct" {\n')
    assert f'    token_uri = "{provider.token_uri}";\n' in text
    assert '    scopes = ["openid", "offline_access"];\n' in text
    assert '    auth_uri_fields = { "prompt": "consent" };\n' in text
    assert "    refresh_before_expiry = 2s;\n" in text
    assert provider.running()
    provider.stop()
    assert not provider.running()


# -- the fake token endpoint -----------------------------------------------------------------


def test_fake_serves_scripted_503_then_default(fake_oauth: FakeOAuth) -> None:
    fake_oauth.script.append(Reply(status=503, text="temporarily unavailable"))
    fields = {"grant_type": "refresh_token", "refresh_token": "rt-0", "client_id": "c"}
    request = urllib.request.Request(fake_oauth.token_uri, urllib.parse.urlencode(fields).encode())
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    with info.value as error:
        assert error.code == 503
        assert error.read() == b"temporarily unavailable"
    assert fake_oauth.seen == [list(fields.items())]

    status, body = post_form(fake_oauth.token_uri, fields)
    assert status == 200
    assert body == {
        "access_token": "at-1",
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": "rt-1",
    }
    assert fake_oauth.token_fields() == fields


def test_fake_authorize_redirects(fake_oauth: FakeOAuth, listener: Listener) -> None:
    query = urllib.parse.urlencode({"redirect_uri": listener.redirect_uri, "state": "s1"})
    result = follow(f"{fake_oauth.auth_uri}?{query}")
    assert result.status == 200
    assert listener.queries == [{"code": "test-code", "state": "s1"}]

    fake_oauth.auth_error = "access_denied"
    follow(f"{fake_oauth.auth_uri}?{query}")
    assert listener.queries[-1] == {"error": "access_denied", "state": "s1"}
    assert len(fake_oauth.authorize_seen) == 2


# -- the server harness, with a stub standing in for pizauth ----------------------------------

STUB_SERVER = """\
import os, sys
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

if sys.argv[1:4] != ["server", "-d", "-c"]:
    print("stub: not a server command:", sys.argv[1:], file=sys.stderr)
    sys.exit(1)
config = open(sys.argv[4]).read()
if "fail" in config:
    print("stub: refusing to start", file=sys.stderr)
    sys.exit(1)
conn = open_dbus_connection(bus=os.environ["DBUS_SESSION_BUS_ADDRESS"])
conn.send_and_get_reply(message_bus.RequestName("org.pizauth"), timeout=5)
print("stub: started", file=sys.stderr, flush=True)
while True:
    conn.receive()
"""


def test_server_harness_with_stub(
    tmp_path: Path, session_bus: PrivateBus, pizauth_env: dict[str, str]
) -> None:
    stub = tmp_path / "stub.py"
    stub.write_text(STUB_SERVER)
    config = tmp_path / "pizauth.conf"
    config.write_text("ok\n")
    command = [sys.executable, str(stub)]
    server = PizauthServer(config, pizauth_env, log_path=tmp_path / "s.log", command=command)
    with server:
        assert server.owns_bus_name()
        assert session_bus.name_owner_pid(BUS_NAME) == server.pid
        assert "stub: started" in server.log()
        assert server.cli("shutdown").returncode == 1  # the stub ignores it
        assert server.stop(shutdown_wait=0.5) == -15  # so SIGTERM ends it
    assert not server.running()
    assert wait_until(lambda: not session_bus.name_has_owner(BUS_NAME), 5)

    config.write_text("fail\n")
    failing = PizauthServer(config, pizauth_env, log_path=tmp_path / "f.log", command=command)
    with pytest.raises(
        RuntimeError, match=r"exited with status 1 at start(.|\n)*refusing to start"
    ):
        failing.start()
    failing.stop()


def test_run_cli_without_server(pizauth_env: dict[str, str]) -> None:
    out = run_cli(pizauth_env, "-c", "print(input())", input=b"hello\n", command=[sys.executable])
    assert (out.returncode, out.stdout) == (0, b"hello\n")
    with pytest.raises(subprocess.TimeoutExpired):
        run_cli(
            pizauth_env, "-c", "import time; time.sleep(30)", timeout=0.5, command=[sys.executable]
        )
