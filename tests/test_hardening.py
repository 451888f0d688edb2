"""The server keeps its memory to itself: not dumpable, no core files.

The server runs here without any capability (``setpriv``), as an ordinary user's process is
even when the tests run as root, so that the kernel's rules for same-user processes apply:
a dumpable process may be read by another of the same user, a non-dumpable one may not.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.lifecycle import HEAD, fake_account, wait_for
from tests.support.bus import PrivateBus
from tests.support.fakeoauth import FakeOAuth
from tests.support.server import PizauthServer, pizauth_command

NO_CAPS = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--"]
"""Run a command as the same user but with no capabilities (no CAP_SYS_PTRACE)."""


def _server(env: dict[str, str], tmp_path: Path, fake: FakeOAuth) -> PizauthServer:
    config = Path(env["XDG_CONFIG_HOME"]) / "pizauth.conf"
    config.write_text(HEAD + fake_account(fake))
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
