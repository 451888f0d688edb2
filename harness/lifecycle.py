"""Shared steps for the token-lifecycle tests (``tests/test_lifecycle_*.py``).

The servers (:class:`~harness.server.ServerFactory`) run with ``-vv`` (info level), because
several behaviours a person relies on are visible only in the log. Everything else
is the real thing: the ``pizauth`` CLI, a private bus, oidc-provider or the fake token endpoint,
and hooks that write what they saw into files the tests read.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import TypeVar

from harness.flows import pending_url, wait_for_token
from harness.procs import WAIT as WAIT
from harness.procs import wait_for as wait_for
from harness.server import PizauthServer
from harness.texts import conf_string
from harness.user import follow
from pizauth_dbus.server.dump import DumpedAccount, decode

T = TypeVar("T")


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
