"""``pizauth show -w SECONDS`` and ``WaitForToken``: a show that waits for the sign-in.

Real server, real CLI, real provider; the person signs in from another thread while the CLI
waits, as a person answering the notification would while msmtp waits.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from urllib.parse import urlencode

from harness.flows import authorise_account, device_code, gdbus, pending_url, url_query
from harness.oidc import OidcProvider
from harness.procs import wait_for
from harness.server import PizauthServer, ServerFactory, run_cli
from harness.texts import HEAD, PENDING
from harness.user import authorise, enter_user_code, follow

WAIT = "60"
"""The CLI's wait in the tests that end sooner; every subprocess is bounded above it."""
BOUND = 90.0


def _config(oidc: OidcProvider, *accounts: str) -> str:
    return HEAD + "".join(oidc.account_config(a) for a in accounts)


def _in_background(
    pool: ThreadPoolExecutor, server: PizauthServer, *args: str
) -> Future[subprocess.CompletedProcess[bytes]]:
    return pool.submit(server.cli, *args, timeout=BOUND)


def _when_waiting(server: PizauthServer, account: str = "acct") -> Callable[[], bool]:
    # The account turns Pending when the waiting call's own Show starts the authorisation, and
    # the call is registered as a waiter in the same step on the server: once this holds, a
    # revoke, reload or shutdown reaches it.
    return lambda: (
        server.cli("status").stdout.decode().startswith(f"{account}: Access token pending")
    )


@contextlib.contextmanager
def _waiting_show(
    server: PizauthServer, account: str = "acct"
) -> Iterator[Future[subprocess.CompletedProcess[bytes]]]:
    """``show -w WAIT account`` in the background, once its Show has started the authorisation
    (:func:`_when_waiting`); the pool it runs on is shut down on leaving."""
    with ThreadPoolExecutor(1) as pool:
        waiting = _in_background(pool, server, "show", "-w", WAIT, account)
        wait_for(_when_waiting(server, account), "the wait to start the authorisation")
        yield waiting


def test_a_token_already_there_is_printed_at_once(
    oidc: OidcProvider, servers: ServerFactory
) -> None:
    server = servers(_config(oidc, "acct"))
    token, _ = authorise_account(server, "acct")
    # Bounded far below the wait: it must not wait at all.
    r = server.cli("show", "-w", "3600", "acct", timeout=20)
    assert (r.returncode, r.stdout.decode(), r.stderr) == (0, token + "\n", b"")


def test_a_pending_account_answers_once_the_person_signs_in(
    oidc: OidcProvider, servers: ServerFactory
) -> None:
    server = servers(_config(oidc, "acct"))
    with _waiting_show(server) as waiting:
        url = pending_url(server, "acct")  # the same URL the waiting call started
        assert authorise(url).status == 200
        r = waiting.result(timeout=BOUND)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    token = r.stdout.decode()
    assert token.endswith("\n") and oidc.introspect(token[:-1])["active"] is True
    assert server.cli("show", "acct").stdout.decode() == token


def test_a_timeout_gives_shows_message_and_exit_code(
    oidc: OidcProvider, servers: ServerFactory
) -> None:
    server = servers(_config(oidc, "acct"))
    started = time.monotonic()
    r = server.cli("show", "-w", "2", "acct", timeout=BOUND)
    waited = time.monotonic() - started
    plain = server.cli("show", "acct")
    assert (r.returncode, r.stdout) == (1, b"")
    assert r.stderr == plain.stderr and r.stderr.decode().startswith(PENDING)
    assert waited >= 2.0  # it did wait, rather than answer as show does


def test_twenty_waiters_get_the_same_token_from_one_sign_in(
    oidc: OidcProvider, servers: ServerFactory
) -> None:
    server = servers(_config(oidc, "acct"))
    with ThreadPoolExecutor(20) as pool:
        waiting = [_in_background(pool, server, "show", "-w", WAIT, "acct") for _ in range(20)]
        wait_for(_when_waiting(server), "the waits to start the authorisation")
        url = pending_url(server, "acct")
        assert pending_url(server, "acct") == url  # the later waiters joined, none started anew
        assert authorise(url).status == 200
        results = [w.result(timeout=BOUND) for w in waiting]
    assert {(r.returncode, r.stderr) for r in results} == {(0, b"")}
    assert len({r.stdout for r in results}) == 1
    assert server.log().count("Authorisation needed for acct") == 1


def test_a_revoke_ends_the_wait_with_an_error(oidc: OidcProvider, servers: ServerFactory) -> None:
    server = servers(_config(oidc, "acct"))
    with _waiting_show(server) as waiting:
        assert server.cli("revoke", "acct").returncode == 0
        r = waiting.result(timeout=BOUND)
    assert (r.returncode, r.stdout) == (1, b"")
    assert r.stderr == b"ERROR - The token of 'acct' was revoked while waiting\n"


def test_removal_by_reload_and_shutdown_end_the_wait(
    oidc: OidcProvider, servers: ServerFactory
) -> None:
    server = servers(_config(oidc, "acct", "other"))
    with ThreadPoolExecutor(2) as pool:
        removed = _in_background(pool, server, "show", "-w", WAIT, "acct")
        stopped = _in_background(pool, server, "show", "-w", WAIT, "other")
        wait_for(_when_waiting(server), "the first wait to start")
        wait_for(
            lambda: "other: Access token pending" in server.cli("status").stdout.decode(),
            "the second wait to start",
        )
        server.write_config(_config(oidc, "other"))
        assert server.cli("reload").returncode == 0
        r = removed.result(timeout=BOUND)
        assert (r.returncode, r.stderr) == (1, b"ERROR - No account 'acct'\n")
        assert server.cli("shutdown").returncode == 0
        r = stopped.result(timeout=BOUND)
    assert (r.returncode, r.stderr) == (
        1,
        b"ERROR - The server stopped while waiting for a token\n",
    )


def test_a_failed_authorisation_ends_the_wait_with_the_providers_message(
    oidc: OidcProvider, servers: ServerFactory
) -> None:
    server = servers(_config(oidc, "acct"))
    with _waiting_show(server) as waiting:
        q = url_query(pending_url(server, "acct"))
        query = urlencode({"state": q["state"][0], "error": "access_denied"})
        assert follow(f"{q['redirect_uri'][0]}?{query}").status == 400  # the error page
        r = waiting.result(timeout=BOUND)
    assert r.returncode == 1
    assert r.stderr.startswith(b"ERROR - ") and b"access_denied" in r.stderr, r.stderr
    assert server.log().count("Authorisation needed for acct") == 1  # no second sign-in


def test_wait_for_token_over_the_bus(oidc: OidcProvider, servers: ServerFactory) -> None:
    server = servers(_config(oidc, "acct"))
    r = gdbus(server.env, "WaitForToken", "acct", "0")  # zero: Show's answer at once
    assert r.returncode != 0 and "org.pizauth.Error.AuthorisationPending" in r.stderr
    token, _ = authorise_account(server, "acct")
    r = gdbus(server.env, "WaitForToken", "acct", "30")
    assert r.returncode == 0 and r.stdout.strip() == f"('{token}',)"


def test_a_bad_wait_is_refused(oidc: OidcProvider, servers: ServerFactory) -> None:
    server = servers(_config(oidc, "acct"))
    for bad in ("x", "-1", "1.5", "4294967296", "٣"):
        r = server.cli("show", "-w", bad, "acct")
        assert (r.returncode, r.stdout) == (1, b"")
        assert (
            r.stderr.decode() == f"ERROR - Invalid wait '{bad}': give a whole number of seconds\n"
        )
    r = run_cli(server.env, "show", "acct", "-w")  # the value is required (no -vv after it)
    assert r.returncode == 1 and r.stderr.startswith(b"Usage:")


def test_a_device_code_account_answers_once_the_code_is_entered(
    oidc: OidcProvider, servers: ServerFactory
) -> None:
    server = servers(
        HEAD + oidc.account_config("dev", device=True),
        extra_env={"PIZAUTH_DEVICE_INTERVAL": "0.2"},
    )
    with ThreadPoolExecutor(1) as pool:
        waiting = _in_background(pool, server, "show", "-w", WAIT, "dev")
        wait_for(
            lambda: "dev: Access token pending" in server.cli("status").stdout.decode(),
            "the wait to ask for a code",
        )
        uri, code = device_code(server, "dev")  # the code the waiting call was given
        assert enter_user_code(uri, code).status == 200
        r = waiting.result(timeout=BOUND)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert oidc.introspect(r.stdout.decode().strip())["active"] is True
