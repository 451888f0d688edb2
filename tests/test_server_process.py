"""``pizauth server`` as a process: foreground and detached, logging, signals, clean shutdown,
a second server, and a listener that cannot be bound."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from harness.dbus_daemon import PrivateBus, name_owner_pid
from harness.fakeoauth import FakeOAuth
from harness.flows import pending_url
from harness.lifecycle import in_log, info, run, setting, wait_for
from harness.procs import group_alive
from harness.server import ServerFactory, pizauth_command
from harness.texts import BOTH, HEAD

ALREADY = "pizauth authenticator already running\n"


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a slow init counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def _read(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_foreground_logs_to_stderr_at_the_chosen_level(
    servers: ServerFactory, fake_oauth: FakeOAuth
) -> None:
    config = HEAD + fake_oauth.account_config()
    seen: dict[str | None, str] = {}
    for flag in (None, "-vv", "-vvv"):
        server = servers(config, flag=flag)
        pending_url(server, "acct")
        assert server.cli("shutdown").returncode == 0
        assert server.wait_exit() == 0
        seen[flag] = server.log()
    assert "INFO - " not in seen[None] and "DEBUG - " not in seen[None]
    assert "INFO - Listening for redirects on HTTP port " in seen["-vv"]
    assert "DEBUG - " not in seen["-vv"]
    assert "DEBUG - New authorisation request for acct" in seen["-vvv"]


def test_without_d_the_server_detaches_and_logs_to_syslog(
    session_bus: PrivateBus, pizauth_env: dict[str, str], fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    config = tmp_path / "pizauth.conf"
    config.write_text(HEAD + fake_oauth.account_config())
    # A short directory: Unix socket paths are limited to about 108 bytes.
    sock_dir = Path(tempfile.mkdtemp(prefix="pzlog"))
    syslog = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    syslog.bind(str(sock_dir / "log"))
    syslog.settimeout(10)
    env = {**pizauth_env, "PIZAUTH_SYSLOG_SOCKET": str(sock_dir / "log")}
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    try:
        start = time.monotonic()
        launched = subprocess.run(
            [*pizauth_command(), "server", "-vv", "-c", str(config)],
            env=env,
            cwd=workdir,
            capture_output=True,
            timeout=20,
            check=False,
        )
        # The command returns at once, leaving the daemon behind.
        assert (launched.returncode, launched.stdout, launched.stderr) == (0, b"", b"")
        assert time.monotonic() - start < 10
        pid = wait_for(lambda: name_owner_pid(session_bus.address, "org.pizauth"), "the daemon")

        first = syslog.recv(4096).decode()
        assert first.startswith(f"<14>pizauth[{pid}]: Listening for redirects on HTTP port ")
        # Detached: its own session, no terminal, stdio on /dev/null, working directory kept.
        assert os.getsid(pid) not in (os.getsid(0), pid)
        for fd in (0, 1, 2):
            assert os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/null"
        assert os.readlink(f"/proc/{pid}/cwd") == str(workdir)

        r = run([*pizauth_command(), "shutdown"], env)
        assert r.returncode == 0
        wait_for(lambda: not _alive(pid), "the daemon to exit")
        assert name_owner_pid(session_bus.address, "org.pizauth") is None
        messages = []
        syslog.settimeout(1)
        while True:
            try:
                messages.append(syslog.recv(4096).decode())
            except TimeoutError:
                break
        assert f"<14>pizauth[{pid}]: Stopped" in messages
    finally:
        syslog.close()
        (sock_dir / "log").unlink()
        sock_dir.rmdir()


def test_without_syslog_the_server_does_not_start(
    session_bus: PrivateBus, pizauth_env: dict[str, str], fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    config = tmp_path / "pizauth.conf"
    config.write_text(HEAD + fake_oauth.account_config())
    env = {**pizauth_env, "PIZAUTH_SYSLOG_SOCKET": str(tmp_path / "no-such-socket")}
    r = run([*pizauth_command(), "server", "-c", str(config)], env)
    assert (r.returncode, r.stdout) == (1, "")
    # The OS error as upstream words it, not Python's "[Errno 2] ...".
    assert r.stderr == "Cannot connect to syslog: No such file or directory (os error 2)\n"
    assert name_owner_pid(session_bus.address, "org.pizauth") is None


@pytest.mark.parametrize("how", ["shutdown", "SIGTERM", "SIGINT"])
def test_stopping_is_clean(
    servers: ServerFactory, session_bus: PrivateBus, fake_oauth: FakeOAuth, tmp_path: Path, how: str
) -> None:
    hook_pid = tmp_path / "hook.pid"
    server = servers(
        BOTH
        + setting("startup_cmd", f"echo $$ > {hook_pid}; sleep 60")
        + fake_oauth.account_config()
    )
    ports = info(server)
    hook = int(wait_for(lambda: _read(hook_pid), "startup_cmd"))
    assert group_alive(hook)
    if how == "shutdown":
        r = server.cli("shutdown")
        assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    else:
        os.kill(server.pid, getattr(signal, how))
    assert server.wait_exit() == 0
    assert name_owner_pid(session_bus.address, "org.pizauth") is None
    assert _refused(int(ports["http_port"])) and _refused(int(ports["https_port"]))
    assert not group_alive(hook)  # the running hook was killed, not orphaned
    assert in_log(server, "INFO - Stopped")
    assert "Traceback" not in server.log()


def test_a_second_server_refuses_to_start(servers: ServerFactory, fake_oauth: FakeOAuth) -> None:
    first = servers(HEAD + fake_oauth.account_config())
    url = pending_url(first, "acct")
    r = run([*pizauth_command(), "server", "-d", "-c", str(first.config_path)], first.env)
    assert (r.returncode, r.stdout, r.stderr) == (1, "", ALREADY)
    assert first.owns_bus_name()
    assert pending_url(first, "acct") == url


def test_a_listener_that_cannot_be_bound_stops_the_server(
    servers: ServerFactory, session_bus: PrivateBus, fake_oauth: FakeOAuth
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = f'http_listen = "127.0.0.1:{port}";\nhttps_listen = none;\n'
        server = servers(config + fake_oauth.account_config(), wait=False, flag=None)
        assert server.wait_exit() == 1
    assert (
        "ERROR - Cannot start the redirect listeners: Address already in use (os error 98)\n"
        in server.log()
    )
    assert name_owner_pid(session_bus.address, "org.pizauth") is None


@pytest.mark.parametrize("listen", ["8080", ":8080"])
def test_a_listen_address_without_a_host_stops_the_server(
    servers: ServerFactory, session_bus: PrivateBus, fake_oauth: FakeOAuth, listen: str
) -> None:
    """Upstream's server refuses a listen address that names no host; ours bound the port
    on 127.0.0.1 (and ":port" might have meant every interface)."""
    config = f'http_listen = "{listen}";\nhttps_listen = none;\n'
    server = servers(config + fake_oauth.account_config(), wait=False, flag=None)
    assert server.wait_exit() == 1
    assert "ERROR - Cannot start the redirect listeners: invalid socket address\n" in server.log()
    assert name_owner_pid(session_bus.address, "org.pizauth") is None
