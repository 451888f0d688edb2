"""Steps several end-to-end tests share: get the URL from ``pizauth show``, authorise, wait.

Plain functions over the real CLI and the real provider (no fakes), so each test reads as the
story a user lives through.
"""

from __future__ import annotations

import re
import subprocess
from urllib.parse import parse_qs, urlsplit

from harness.dbus_call import MANAGER, Reply, call
from harness.procs import wait_until
from harness.server import PizauthServer
from harness.texts import PENDING
from harness.user import UserResult, authorise

GDBUS_CALL = [
    "gdbus",
    "call",
    "--session",
    "--dest",
    "org.pizauth",
    "--object-path",
    "/org/pizauth",
]
"""``gdbus call`` aimed at the server; add ``--method org.pizauth.Manager.<M>`` and arguments."""
TOKEN_WAIT = 20.0
"""Seconds allowed between the redirect reaching pizauth and ``show`` printing the token."""


def pending_url(server: PizauthServer, account: str) -> str:
    """Run ``pizauth show`` on an account with no token and return the URL it prints."""
    r = server.cli("show", account)
    err = r.stderr.decode()
    assert r.returncode == 1, (r.returncode, err)
    assert r.stdout == b""
    assert err.startswith(PENDING) and err.endswith("\n"), err
    return err[len(PENDING) : -1]


def device_code(server: PizauthServer, account: str, *args: str) -> tuple[str, str]:
    """Run ``pizauth show`` (or ``refresh``, with ``args``) on a device flow account with no
    token; returns the verification URI and the user code it prints."""
    r = server.cli(*(args or ("show",)), account)
    err = r.stderr.decode()
    assert r.returncode == 1 and r.stdout == b"", (r.returncode, err)
    m = re.fullmatch(re.escape(PENDING) + r"(\S+) and code (\S+)\n", err)
    assert m is not None, err
    return m.group(1), m.group(2)


def gdbus(env: dict[str, str], method: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Call a Manager method with ``gdbus`` (bounded; the result is returned, not checked)."""
    return subprocess.run(
        [*GDBUS_CALL, "--method", f"org.pizauth.Manager.{method}", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def url_query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def wait_for_token(server: PizauthServer, account: str, timeout: float = TOKEN_WAIT) -> str:
    """Wait until ``pizauth show`` prints a token, and return it; fail with the last answer.

    While waiting, the server's ``Show`` is asked over the bus from this process, as ``show``
    asks it (activation allowed): a ``pizauth`` process per poll would cost some 30 ms of CPU
    each time, which many tests waiting at once turn into a busy machine. Once it answers with
    a token, ``pizauth show`` itself runs, and what it prints is what is checked and returned.
    """
    last: list[Reply] = []

    def token() -> bool:
        try:
            last[:] = [call(server.bus_address, MANAGER, "Show", "s", (account,), activate=True)]
        except (OSError, TimeoutError) as e:  # no bus (yet, or any more): as show's failure
            last[:] = [Reply("Show", type(e).__name__, (str(e),))]
        return last[0].ok

    if not wait_until(token, timeout, interval=0.1):
        raise AssertionError(f"no token after {timeout}s: {last[-1]}\n{server.log()}")
    r = server.cli("show", account)
    out = r.stdout.decode()
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert out.endswith("\n") and out.count("\n") == 1, out
    assert r.stderr == b""
    return out[:-1]


def authorise_account(server: PizauthServer, account: str) -> tuple[str, UserResult]:
    """The whole first login: URL from ``show``, the person signs in, the token arrives."""
    url = pending_url(server, account)
    page = authorise(url)
    assert page.status == 200, (page.status, page.body)
    assert "pizauth processing authentication" in page.body
    return wait_for_token(server, account), page
