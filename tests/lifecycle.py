"""Shared steps for the token-lifecycle tests (``tests/test_lifecycle_*.py``).

The servers here run with ``-vv`` (info level), because several behaviours a person relies on
are visible only in the log (refresh errors never reach ``error_notify_cmd``). Everything else
is the real thing: the ``pizauth`` CLI, a private bus, oidc-provider or the fake token endpoint,
and hooks that write what they saw into files the tests read.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from pizauth_dbus.dump import DumpedAccount, decode
from tests.flows import pending_url, wait_for_token
from tests.support.fakeoauth import FakeOAuth
from tests.support.oidc import conf_string
from tests.support.server import PizauthServer
from tests.support.user import follow

T = TypeVar("T")

WAIT = 15.0
"""Default seconds to wait for something the server does in the background."""


def cli_with(flag: str) -> list[str]:
    """The CLI with ``flag`` appended to every command line.

    For ``-vv``, ``server -d -c <path> -vv`` logs at info level; client commands ignore it.
    """
    code = (
        "import sys; from pizauth_dbus.cli import main; "
        f"sys.exit(main(['pizauth', *sys.argv[1:], {flag!r}]))"
    )
    return [sys.executable, "-c", code]


HEAD = 'http_listen = "127.0.0.1:0";\nhttps_listen = none;\n'
"""Global settings most tests want: an HTTP listener on a random port, HTTPS off."""


class Servers:
    """Starts real ``pizauth server -d -vv`` processes on the test's bus; stops them all at the end.

    Use it through a fixture in the test module::

        @pytest.fixture
        def servers(pizauth_env, session_bus, tmp_path):
            yield from Servers.fixture(pizauth_env, tmp_path)
    """

    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self.env = env
        self.tmp_path = tmp_path
        self._started: list[PizauthServer] = []

    @classmethod
    def fixture(cls, env: dict[str, str], tmp_path: Path) -> Iterator[Servers]:
        servers = cls(env, tmp_path)
        try:
            yield servers
        finally:
            servers.stop_all()

    def start(
        self,
        config: str,
        *,
        extra_env: dict[str, str] | None = None,
        wait: bool = True,
        flag: str | None = "-vv",
    ) -> PizauthServer:
        """Write ``config`` to ``$XDG_CONFIG_HOME/pizauth.conf`` and start a server on it.

        :param flag: added to the server's command line (and its CLI calls'); None for none.
        """
        path = Path(self.env["XDG_CONFIG_HOME"]) / "pizauth.conf"
        path.write_text(config)
        server = PizauthServer(
            path,
            {**self.env, **(extra_env or {})},
            log_path=self.tmp_path / f"server-{len(self._started)}.log",
            command=cli_with(flag) if flag else None,
        )
        self._started.append(server)
        return server.start(wait=wait)

    __call__ = start

    def stop_all(self) -> None:
        for server in reversed(self._started):
            server.stop()
        for server in self._started:
            print(f"--- {server.log_path.name} ---\n{server.log()}")


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = WAIT) -> T:
    """Poll ``condition`` until it returns something true; return that.

    :raises AssertionError: naming ``what`` when the time runs out.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def lines(path: Path) -> list[str]:
    """A hook's output file, line by line ([] until the hook first writes)."""
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def recorder(path: Path, *variables: str) -> str:
    """A shell command appending ``$VAR1|$VAR2|...`` as one line to ``path``."""
    fields = "|".join("%s" for _ in variables)
    args = " ".join(f'"${v}"' for v in variables)
    return f"printf '{fields}\\n' {args} >> {shlex.quote(str(path))}"


def setting(name: str, value: str) -> str:
    """One ``name = "value";`` line, the value quoted for pizauth.conf."""
    return f"{name} = {conf_string(value)};\n"


def fake_account(fake: FakeOAuth, name: str = "acct", extra: str = "") -> str:
    """An account block using the fake endpoints (client_secret set, one scope)."""
    return (
        f"account {conf_string(name)} {{\n"
        f"    auth_uri = {conf_string(fake.auth_uri)};\n"
        f"    token_uri = {conf_string(fake.token_uri)};\n"
        f'    client_id = "fake-client";\n'
        f'    client_secret = "fake-secret";\n'
        f'    scopes = ["mail"];\n'
        f"{extra}"
        "}\n"
    )


def login_with_fake(server: PizauthServer, account: str = "acct") -> str:
    """Authorise ``account`` through the fake's ``/authorize``; returns the first token."""
    url = pending_url(server, account)
    page = follow(url)
    assert page.status == 200, (page.status, page.body)
    assert "pizauth processing authentication" in page.body
    return wait_for_token(server, account)


def show(server: PizauthServer, account: str = "acct") -> tuple[int, str, str]:
    """``pizauth show``: (exit code, stdout, stderr) as text."""
    r = server.cli("show", account)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def show_token(server: PizauthServer, account: str = "acct") -> str | None:
    """The token ``show`` prints, or None when it fails."""
    code, out, _ = show(server, account)
    return out[:-1] if code == 0 else None


def status(server: PizauthServer) -> dict[str, str]:
    """``pizauth status`` as {account: state text}."""
    r = server.cli("status")
    assert r.returncode == 0, r.stderr
    out: dict[str, str] = {}
    for line in r.stdout.decode().splitlines():
        name, _, state = line.partition(": ")
        out[name] = state
    return out


def dumped(server: PizauthServer) -> dict[str, DumpedAccount]:
    """What ``pizauth dump`` holds, decoded (to read refresh tokens)."""
    r = server.cli("dump")
    assert r.returncode == 0, r.stderr
    return decode(r.stdout)


def info(server: PizauthServer) -> dict[str, str]:
    """``server_info`` from ``pizauth info -j``."""
    r = server.cli("info", "-j")
    assert r.returncode == 0, r.stderr
    server_info: dict[str, str] = json.loads(r.stdout)["server_info"]
    return server_info


def in_log(server: PizauthServer, text: str) -> bool:
    return text in server.log()


def run(
    argv: list[str], env: dict[str, str], timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
