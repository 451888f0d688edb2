"""The redirect listener's answers, over raw sockets: upstream's decision sequence, malformed
requests, the 16 KiB cap, slow clients, and repeated redirects."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from harness.fakeoauth import FakeOAuth, bearer
from harness.flows import pending_url
from harness.lifecycle import (
    in_log,
    info,
    lines,
    recorder,
    setting,
    show_token,
    status,
    wait_for,
)
from harness.server import PizauthServer, ServerFactory
from harness.texts import BOTH, HEAD
from harness.user import follow

SUCCESS = "pizauth processing authentication: you can safely close this page."
NO_MATCH = "No pending token matches request state: request a fresh token"
DEADLINE = 1.0
ERROR_VARIABLES = ("PIZAUTH_ACCOUNT", "PIZAUTH_MSG", "PIZAUTH_ERROR_DESCRIPTION")
"""PIZAUTH_REDIRECT_TIMEOUT for these tests: how long a connection may stay open."""


class Raw:
    """A server with both listeners, and a way to send it exactly the bytes a test wants."""

    def __init__(self, servers: ServerFactory, fake: FakeOAuth, tmp_path: Path) -> None:
        self.errors = tmp_path / "errors"
        self.server: PizauthServer = servers(
            BOTH
            + setting("error_notify_cmd", recorder(self.errors, *ERROR_VARIABLES))
            + fake.account_config(),
            extra_env={"PIZAUTH_REDIRECT_TIMEOUT": str(DEADLINE)},
        )
        ports = info(self.server)
        self.port = int(ports["http_port"])
        self.https_port = int(ports["https_port"])

    def pending(self) -> tuple[str, str]:
        """A pending authorisation: (its state, the redirect URI's path and host header)."""
        url = pending_url(self.server, "acct")
        q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert q["redirect_uri"] == f"http://localhost:{self.port}/"
        return q["state"], f"localhost:{self.port}"

    def send(self, data: bytes, timeout: float = 5.0) -> bytes:
        """Send ``data`` and read the answer until the server closes the connection."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(data)
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    def get(self, target: str, host: str | None = None, extra: str = "") -> tuple[int, str]:
        host = host if host is not None else f"localhost:{self.port}"
        answer = self.send(f"GET {target} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode())
        return parse(answer)


def parse(answer: bytes) -> tuple[int, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode()
    # Our answers are HTTP/1.1; aiohttp answers requests it cannot parse with HTTP/1.0.
    assert status_line.startswith(("HTTP/1.1 ", "HTTP/1.0 ")), answer[:200]
    return int(status_line.split()[1]), head.decode() + "\n\n" + body.decode()


def test_upstreams_decision_sequence(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    raw = Raw(servers, fake_oauth, tmp_path)
    state, host = raw.pending()
    url_before = pending_url(raw.server, "acct")

    # 1. No state: 404, whatever else is there.
    assert raw.get("/favicon.ico")[0] == 404
    assert raw.get("/?code=abc")[0] == 404
    # 2. A state nobody waits for: 200 and a page saying so.
    code, page = raw.get("/?state=nobody-has-this&code=abc")
    assert code == 200 and NO_MATCH in page and "text/html" in page
    # 3. The right state at the wrong place: 404, and the account keeps waiting.
    assert raw.get(f"/elsewhere?state={state}&code=abc")[0] == 404
    assert raw.get(f"/?state={state}&code=abc", host=f"127.0.0.1:{raw.port}")[0] == 404
    assert raw.get(f"/?state={state}&code=abc", host=f"localhost:{raw.port + 1}")[0] == 404
    # 5. No code: 400, still pending with the same URL.
    code, page = raw.get(f"/?state={state}&iss=http%3A%2F%2Fissuer")
    assert code == 400
    assert pending_url(raw.server, "acct") == url_before
    assert fake_oauth.seen == []
    # 4. An error from the provider: 400, the account empties, error_notify_cmd is told why.
    code, page = raw.get(f"/?state={state}&error=access_denied&error_description=Not+today")
    assert code == 400 and "Authentication for acct failed: access_denied (Not today)" in page
    wait_for(lambda: lines(raw.errors), "error_notify_cmd")
    # $PIZAUTH_MSG is upstream's, which scripts match; the description has its own variable,
    # and follows upstream's words in the log.
    assert lines(raw.errors) == ["acct|Authentication for acct failed: access_denied|Not today"]
    assert in_log(raw.server, "ERROR - Authentication for acct failed: access_denied (Not today)")
    assert status(raw.server)["acct"] == "No access token"
    # The old state is now unknown.
    assert NO_MATCH in raw.get(f"/?state={state}&code=abc")[1]
    # 6. Success, with an extra iss parameter (RFC 9207): 200, then the exchange.
    state, host = raw.pending()
    code, page = raw.get(f"/?code=the-code&state={state}&iss=http%3A%2F%2Fissuer", host=host)
    assert code == 200 and SUCCESS in page
    assert "Connection: close" in page and "Cache-Control: no-store" in page
    assert wait_for(lambda: show_token(raw.server), "the token") == "at-1"
    assert dict(fake_oauth.seen[0])["code"] == "the-code"
    assert fake_oauth.authorize_seen == []  # no browser involved at all


def test_malformed_requests_get_400(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    raw = Raw(servers, fake_oauth, tmp_path)
    state, host = raw.pending()
    target = f"/?state={state}&code=abc"
    for method in ("POST", "HEAD", "PUT"):
        answer = raw.send(f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert parse(answer)[0] == 400, method
    two_hosts = f"GET {target} HTTP/1.1\r\nHost: {host}\r\nHost: {host}\r\n\r\n"
    assert parse(raw.send(two_hosts.encode()))[0] == 400
    assert parse(raw.send(f"GET {target} HTTP/1.0\r\n\r\n".encode()))[0] == 400
    assert parse(raw.send(b"NONSENSE\r\n\r\n"))[0] == 400
    # The request line splits on single spaces, as upstream's (aiohttp's C parser would
    # serve these, and exchange the code).
    for line in (f"GET  {target} HTTP/1.1", f"GET {target}  HTTP/1.1", f"GET\t{target} HTTP/1.1"):
        assert parse(raw.send(f"{line}\r\nHost: {host}\r\n\r\n".encode()))[0] == 400, line
    # Under 16 KiB in all is fine; 16 KiB in one header, or in many small ones, is not.
    assert raw.get("/?state=x", extra=f"X-Pad: {'a' * 15000}\r\n")[0] == 200
    assert raw.get("/?state=x", extra=f"X-Pad: {'a' * 16500}\r\n")[0] == 400
    many = "".join(f"X-Pad-{i}: {'a' * 1000}\r\n" for i in range(17))
    assert raw.get("/?state=x", extra=many)[0] == 400
    assert raw.get(f"/?state=x&pad={'a' * 16500}")[0] == 400
    # None of that disturbed the pending authorisation.
    assert fake_oauth.seen == []
    assert status(raw.server)["acct"].startswith("Access token pending authentication")


def _closed_after(sock: socket.socket, start: float) -> float:
    """Seconds from ``start`` until the server closes ``sock`` (reads until EOF)."""
    sock.settimeout(10)
    while sock.recv(4096):
        pass
    return time.monotonic() - start


def test_slow_clients_are_cut_off(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    raw = Raw(servers, fake_oauth, tmp_path)
    state, _ = raw.pending()
    start = time.monotonic()
    with (
        socket.create_connection(("127.0.0.1", raw.port)) as half,
        socket.create_connection(("127.0.0.1", raw.port)) as silent,
        socket.create_connection(("127.0.0.1", raw.https_port)) as no_handshake,
    ):
        half.sendall(f"GET /?state={state}&code=abc HTTP/1.1\r\nHost: loc".encode())
        for sock in (half, silent, no_handshake):
            assert DEADLINE * 0.9 < _closed_after(sock, start) < DEADLINE + 3
    # The listener still serves, and the half request did nothing.
    assert raw.get("/?state=x")[0] == 200
    assert fake_oauth.seen == []


def test_a_repeated_redirect_is_exchanged_once(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    raw = Raw(servers, fake_oauth, tmp_path)
    both = threading.Event()  # the exchange is answered once both redirects have come
    fake_oauth.script.append(replace(bearer("t", "r"), hold=both))
    state, host = raw.pending()
    for _ in range(2):  # e.g. the person reloads the page
        assert raw.get(f"/?code=abc&state={state}", host=host)[0] == 200
    both.set()
    assert wait_for(lambda: show_token(raw.server), "the token") == "t"
    assert len(fake_oauth.seen) == 1
    assert in_log(raw.server, "Ignoring a repeated redirect for acct")


def test_authorisation_errors_are_logged_without_error_notify_cmd(
    servers: ServerFactory, fake_oauth: FakeOAuth
) -> None:
    # Default verbosity (errors only): the failure must still reach the log.
    server = servers(
        HEAD + fake_oauth.account_config(),
        flag=None,
    )
    fake_oauth.auth_error = "access_denied"
    page = follow(pending_url(server, "acct"))
    assert page.status == 400
    assert "Authentication for acct failed: access_denied" in page.body
    wait_for(
        lambda: in_log(server, "ERROR - Authentication for acct failed: access_denied"),
        "the error in the log",
    )
    assert status(server)["acct"] == "No access token"


def test_https_listener_applies_the_same_sequence(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    raw = Raw(servers, fake_oauth, tmp_path)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", raw.https_port)) as tcp,
        context.wrap_socket(tcp, server_hostname="localhost") as tls,
    ):
        assert tls.selected_alpn_protocol() in (None, "http/1.1")
        tls.sendall(f"GET /?state=x HTTP/1.1\r\nHost: localhost:{raw.https_port}\r\n\r\n".encode())
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    code, page = parse(answer)
    assert code == 200 and NO_MATCH in page
    # An http redirect URI arriving over HTTPS does not match (scheme differs): 404.
    state, _ = raw.pending()
    with (
        socket.create_connection(("127.0.0.1", raw.https_port)) as tcp,
        context.wrap_socket(tcp, server_hostname="localhost") as tls,
    ):
        tls.sendall(
            f"GET /?state={state}&code=c HTTP/1.1\r\nHost: localhost:{raw.port}\r\n\r\n".encode()
        )
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    assert parse(answer)[0] == 404
