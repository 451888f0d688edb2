"""The server keeps its memory to itself: not dumpable, no core files.

The server runs here without any capability (``setpriv``), as an ordinary user's process is
even when the tests run as root, so that the kernel's rules for same-user processes apply:
a dumpable process may be read by another of the same user, a non-dumpable one may not.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from harness.dbus_daemon import PrivateBus
from harness.fakeoauth import FakeOAuth
from harness.flows import pending_url
from harness.lifecycle import (
    in_log,
    info,
    login_with_fake,
    setting,
    show_token,
    wait_for,
)
from harness.server import PizauthServer, ServerFactory, cli_with, pizauth_command
from harness.texts import BOTH, HEAD
from harness.user import follow
from pizauth_dbus.config.loader import parse
from pizauth_dbus.errors import RestoreError
from pizauth_dbus.server.dump import DumpedToken, decode, encode
from pizauth_dbus.server.listeners import (
    ACCEPT_FAILED,
    MAX_CONNECTIONS,
    MAX_CONNECTIONS_HELD,
    MAX_REQUEST_BYTES,
    _tls_layer,
    quiet_accept_errors,
)

NO_CAPS = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--"]
"""Run a command as the same user but with no capabilities (no CAP_SYS_PTRACE)."""


def _server(env: dict[str, str], tmp_path: Path, fake: FakeOAuth) -> PizauthServer:
    config = Path(env["XDG_CONFIG_HOME"]) / "pizauth.conf"
    config.write_text(HEAD + fake.account_config())
    # Core files allowed as far as the shell can allow them, written (if at all) into the
    # test's own directory: the server must turn them off itself.
    shell = 'cd "$0" && ulimit -c unlimited && exec "$@"'
    command = [*NO_CAPS, "/bin/sh", "-c", shell, str(tmp_path), *pizauth_command()]
    return PizauthServer(config, env, log_path=tmp_path / "server.log", command=command).start()


def test_another_process_of_the_same_user_cannot_read_the_servers_memory(
    pizauth_env: dict[str, str], session_bus: PrivateBus, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    with _server(pizauth_env, tmp_path, fake_oauth) as server:
        limits = Path(f"/proc/{server.pid}/limits").read_text()
        assert re.search(r"^Max core file size\s+0\s+0\s", limits, re.MULTILINE), limits
        probe = "import sys; open(f'/proc/{sys.argv[1]}/mem', 'rb')"
        r = subprocess.run(
            [*NO_CAPS, sys.executable, "-c", probe, str(server.pid)],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        assert r.returncode == 1 and "PermissionError" in r.stderr, r.stderr
        # The same probe reads a process that did not protect itself: the check is real.
        with subprocess.Popen([*NO_CAPS, "sleep", "30"]) as other:
            try:
                ok = subprocess.run(
                    [*NO_CAPS, sys.executable, "-c", probe, str(other.pid)],
                    capture_output=True,
                    timeout=20,
                    check=False,
                )
                assert ok.returncode == 0, ok.stderr
            finally:
                other.kill()


def test_a_crash_leaves_no_core_file(
    pizauth_env: dict[str, str], session_bus: PrivateBus, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    server = _server(pizauth_env, tmp_path, fake_oauth)
    try:
        os.kill(server.pid, signal.SIGSEGV)
        assert wait_for(lambda: server.returncode, "the server to crash") == -signal.SIGSEGV
        assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("core")]
    finally:
        server.stop()


# -- Hostile clients of the redirect listeners -------------------------------------------------


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert m, status
    return int(m.group(1))


def _tls(port: int) -> ssl.SSLSocket:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        return ctx.wrap_socket(sock, server_hostname="localhost")
    except OSError:
        sock.close()
        raise


def test_a_flood_of_idle_connections_starves_nothing_and_piles_up_nothing(
    servers: ServerFactory, fake_oauth: FakeOAuth
) -> None:
    """Idle connections cost a descriptor each, and a finished TLS handshake some 280 KB;
    held by the thousand they once ran the server out of descriptors and memory, and a real
    browser's redirect then timed out. Each listener now keeps at most MAX_CONNECTIONS."""
    server = servers(BOTH + fake_oauth.account_config())
    ports = info(server)
    http, https = int(ports["http_port"]), int(ports["https_port"])
    fds, rss = _fds(server.pid), _rss_kib(server.pid)
    held: list[socket.socket] = []
    try:
        held += [socket.create_connection(("127.0.0.1", http), timeout=10) for _ in range(300)]
        for _ in range(300):
            with contextlib.suppress(OSError):  # the server may close the oldest meanwhile
                held.append(_tls(https))
        assert _fds(server.pid) <= fds + 2 * MAX_CONNECTIONS + 8
        # A real redirect gets through the crowd.
        assert login_with_fake(server) == "at-1"
    finally:
        for sock in held:
            sock.close()
    wait_for(lambda: _fds(server.pid) <= fds + 8, "the connections to be gone")
    grown = _rss_kib(server.pid) - rss
    assert grown < 40 * 1024, f"the server grew by {grown} KiB"


def _send_large(port: int, tls: bool, size: int) -> None:
    """One GET whose query string is ``size`` bytes, then whatever the server answers."""
    sock: socket.socket = _tls(port) if tls else socket.create_connection(("127.0.0.1", port), 10)
    try:
        with contextlib.suppress(OSError):  # the server may refuse before it has read it all
            sock.sendall(b"GET /?q=" + b"a" * size + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
            while sock.recv(65536):
                pass
    finally:
        sock.close()


def test_rejected_large_requests_leave_no_memory_behind(
    servers: ServerFactory, fake_oauth: FakeOAuth
) -> None:
    """Each 1 MB request line is refused at once, yet the connection's deadline timer kept
    its handler and buffers alive for 10 s: some 0.8 MB (HTTP) or 2.2 MB (HTTPS) a request,
    2.6 GB after 2,100 of them. Now 120 of them leave the server within a few MB."""
    server = servers(BOTH + fake_oauth.account_config())
    ports = info(server)
    http, https = int(ports["http_port"]), int(ports["https_port"])
    for port, tls in ((http, False), (https, True)):  # warm both paths up: imports, TLS
        _send_large(port, tls, 1 << 20)
    fds, rss = _fds(server.pid), _rss_kib(server.pid)
    for i in range(120):
        _send_large(https if i % 2 else http, i % 2 == 1, 1 << 20)
    wait_for(lambda: _fds(server.pid) <= fds + 2, "the connections to be gone")
    grown = _rss_kib(server.pid) - rss
    assert grown < 16 * 1024, f"the server grew by {grown} KiB"
    assert login_with_fake(server) == "at-1"


def _half_client_hello() -> bytes:
    """The first half of a real TLS ClientHello: a handshake that stalls where it started."""
    ctx = ssl.create_default_context()
    tls = ctx.wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO(), server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = out.read()
    return hello[: len(hello) // 2]


class _HandshakeFlood(threading.Thread):
    """Keeps ``size`` connections open to ``port``, each stalled halfway through its
    ClientHello, opening a new one for each the server closes."""

    def __init__(self, port: int, size: int) -> None:
        super().__init__(daemon=True)
        self.port, self.size, self.opened = port, size, 0
        self.stop = threading.Event()

    def _open(self) -> socket.socket | None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
            sock.sendall(self.hello)
        except OSError:
            return None
        self.opened += 1
        return sock

    def run(self) -> None:
        self.hello = _half_client_hello()
        held: list[socket.socket] = []
        try:
            while not self.stop.is_set():
                held += [s for s in (self._open() for _ in range(self.size - len(held))) if s]
                closed, _, _ = select.select(held, [], [], 0.05)
                for sock in closed:  # readable: the server closed it
                    held.remove(sock)
                    sock.close()
        finally:
            for sock in held:
                sock.close()


def test_a_flood_of_stalled_tls_handshakes_is_counted_and_cut_short(
    pizauth_env: dict[str, str], session_bus: PrivateBus, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    """asyncio counts a TLS connection only once its handshake is done and gave a stalled one
    10 s: 3,000 half ClientHellos held 700 MB and 2,066 descriptors, and at a limit of 256
    descriptors real redirects timed out while asyncio logged a traceback per failed accept
    (32 MB in 36 s). Now they count from accept and have half a second."""
    redirect = setting("redirect_uri", "https://localhost/")
    accounts = "".join(fake_oauth.account_config(f"a{i}", extra=redirect) for i in range(3))
    config = Path(pizauth_env["XDG_CONFIG_HOME"]) / "pizauth.conf"
    config.write_text(BOTH + accounts)
    command = ["prlimit", "--nofile=256", "--", *cli_with("-vv")]
    with PizauthServer(config, pizauth_env, log_path=tmp_path / "s.log", command=command) as s:
        _flood_while_redirecting(s)


def _flood_while_redirecting(server: PizauthServer) -> None:
    https = int(info(server)["https_port"])
    untrusted = ssl.create_default_context()
    untrusted.check_hostname, untrusted.verify_mode = False, ssl.CERT_NONE
    assert follow(pending_url(server, "a0"), ssl_context=untrusted).status == 200  # warm up
    fds, rss, log_lines = _fds(server.pid), _rss_kib(server.pid), len(server.log().splitlines())
    flood = _HandshakeFlood(https, 400)
    flood.start()
    most = 0
    try:
        wait_for(lambda: flood.opened >= 400, "the flood to get going")
        for name in ("a1", "a2"):
            url = pending_url(server, name)
            assert follow(url, ssl_context=untrusted, timeout=10).status == 200, name
            most = max(most, _fds(server.pid))
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            most = max(most, _fds(server.pid))
            time.sleep(0.05)
        grown = _rss_kib(server.pid) - rss
    finally:
        flood.stop.set()
        flood.join(timeout=20)
    # The cap on connections held, and the few just accepted that are not yet counted.
    assert most <= fds + MAX_CONNECTIONS_HELD + 48, f"{most} descriptors, {fds} before"
    assert grown < 40 * 1024, f"the server grew by {grown} KiB during the flood"
    # Only the redirects' own lines (at -vv, info), nothing about the flood.
    added = [line for line in server.log().splitlines()[log_lines:] if "INFO" not in line]
    assert len(added) <= 3, added[:10]
    for name in ("a1", "a2"):
        assert show_token(server, name) is not None


def test_the_tls_layer_still_tells_how_far_a_handshake_got() -> None:
    """Which connection makes room depends on a private method of asyncio's TLS layer that
    the listener overrides: a Python that renames it must fail here, not in a flood."""
    loop = asyncio.new_event_loop()
    try:
        told: list[bool] = []
        layer = _tls_layer()(
            loop,
            asyncio.Protocol(),
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH),
            None,
            server_side=True,
        )
        layer.answered = lambda: told.append(True)
        layer._outgoing.write(b"ServerHello")
        layer._transport = _Sink()
        layer._process_outgoing()
        assert told == [True]
        layer._app_transport.close()  # made with the layer
    finally:
        loop.close()


class _Sink(asyncio.Transport):
    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass


def test_failing_accepts_are_reported_once_a_burst(caplog: pytest.LogCaptureFixture) -> None:
    """asyncio reports every failed accept with a traceback: 78,596 of them in 36 s."""
    loop = asyncio.new_event_loop()
    try:
        quiet_accept_errors(loop)
        quiet_accept_errors(loop)  # a second listener: still one filter
        for _ in range(1000):
            loop.call_exception_handler(
                {"message": ACCEPT_FAILED, "exception": OSError(24, "Too many open files")}
            )
        loop.call_exception_handler({"message": "something else"})
    finally:
        loop.close()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "cannot accept connections: Too many open files (os error 24)" in messages[0]
    assert messages[1] == "something else"


def test_a_redirect_with_thousands_of_parameters_is_refused(
    servers: ServerFactory, fake_oauth: FakeOAuth
) -> None:
    server = servers(HEAD + fake_oauth.account_config())
    url = pending_url(server, "acct")
    state = parse_qs(urlsplit(url).query)["state"][0]
    redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
    crowded = f"{redirect}?state={state}&code=c&" + "a&" * 5000
    assert len(crowded) < MAX_REQUEST_BYTES
    assert follow(crowded).status == 400
    # Nothing happened to the account: the same URL still waits.
    assert pending_url(server, "acct") == url
    assert follow(f"{redirect}?state={state}&code=c").status == 200


# -- The documented backup recipe, through crashes ---------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def _documented_recipe() -> str:
    """pizauth.conf(5)'s example token_event_cmd, exactly as printed."""
    man = (ROOT / "man" / "pizauth.conf.5").read_text()
    m = re.search(r'^token_event_cmd = "(.*)";$', man, re.MULTILINE)
    assert m, "pizauth.conf(5) has no token_event_cmd example"
    return m.group(1)


# The fake endpoint's in-thread server may be left holding a connection of a SIGKILLed server,
# which Python then reports as an unclosed transport when it collects it: the fake's, not ours.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_documented_backup_recipe_survives_a_crash_at_any_moment(
    servers: ServerFactory, fake_oauth: FakeOAuth, pizauth_env: dict[str, str]
) -> None:
    """Writing the dump straight into its file left the file empty when the server died
    during the hook (9 times in 9); the documented recipe renames a finished file instead."""
    recipe = _documented_recipe()
    backup = Path(pizauth_env["HOME"]) / ".cache" / "pizauth.dump"
    backup.parent.mkdir()
    config = HEAD + setting("token_event_cmd", recipe) + fake_oauth.account_config()
    server = servers(config)
    login_with_fake(server)
    wait_for(lambda: _restorable(backup), "the first backup")
    rng = random.Random(9)
    for _ in range(6):
        server.kill()
        server = servers(config)
        assert server.cli("restore", input=backup.read_bytes()).returncode == 0
        assert server.cli("refresh", "acct").returncode == 0
        wait_for(lambda: in_log(server, "Token event token_refreshed"), "the refresh")  # noqa: B023
        time.sleep(rng.uniform(0.02, 0.18))  # the hook is under way
        server.kill()
        assert _restorable(backup), "the backup was left broken"
    server = servers(config)
    assert server.cli("restore", input=backup.read_bytes()).returncode == 0
    assert show_token(server) is not None


def _restorable(path: Path) -> bool:
    try:
        dumped = decode(path.read_bytes())
    except (OSError, RestoreError):
        return False
    return dumped["acct"].token is not None


# -- One provider cannot hold up another -------------------------------------------------------


def test_a_provider_that_never_answers_does_not_delay_another(
    servers: ServerFactory, fake_oauth: FakeOAuth
) -> None:
    """aiohttp's pool of 100 connections was shared by every provider: 110 accounts at one
    that drips its answers held up another provider's refresh by 28 s. Here the slow provider
    accepts and never answers (the kernel's backlog accepts for it), and 110 of its accounts
    are due at once together with one healthy account, which must be refreshed at once."""
    with socket.create_server(("127.0.0.1", 0), backlog=512) as silent:
        slow_uri = f"http://127.0.0.1:{silent.getsockname()[1]}/token"
        slow = "".join(
            f'account "s{i}" {{\n  auth_uri = "{fake_oauth.auth_uri}";\n'
            f'  token_uri = "{slow_uri}";\n  client_id = "c";\n}}\n'
            for i in range(110)
        )
        config = HEAD + slow + fake_oauth.account_config("good")
        server = servers(config, extra_env={"PIZAUTH_HTTP_TIMEOUT": "20"})
        t = time.time()
        expired = DumpedToken("old", t - 100, t - 10, "rt")
        dumped = encode([(a, expired) for a in parse(config).accounts.values()])
        assert server.cli("restore", input=dumped).returncode == 0
        started = time.monotonic()
        wait_for(lambda: fake_oauth.seen, "the healthy provider's refresh", timeout=10)
        waited = time.monotonic() - started
        assert waited < 5, f"the healthy provider was asked after {waited:.1f} s"
        assert wait_for(lambda: show_token(server, "good") == "at-1", "the new token")
        server.stop()
