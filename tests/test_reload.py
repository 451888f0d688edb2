"""``pizauth reload`` and SIGHUP: which accounts keep their tokens, which start over, and a
broken config that changes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

from harness import lifecycle as lc
from harness.fakeoauth import FakeOAuth, bearer
from harness.flows import pending_url
from harness.procs import free_port, wait_for
from harness.server import ServerFactory
from harness.texts import HEAD, PENDING
from harness.user import follow


def _config(fake: FakeOAuth, events: Path, accounts: dict[str, str], listen: str) -> str:
    head = f"http_listen = {listen};\nhttps_listen = none;\n"
    hook = lc.setting("token_event_cmd", lc.recorder(events, "PIZAUTH_ACCOUNT", "PIZAUTH_EVENT"))
    return (
        head + hook + "".join(fake.account_config(n, extra=extra) for n, extra in accounts.items())
    )


def test_reload_keeps_drops_and_creates_accounts(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    events1, events2 = tmp_path / "events1", tmp_path / "events2"
    v1 = {"keep": "", "wait": "", "change": "", "drop": ""}
    server = servers(_config(fake_oauth, events1, v1, '"127.0.0.1:0"'))
    kept = lc.login_with_fake(server, "keep")
    lc.login_with_fake(server, "change")
    lc.login_with_fake(server, "drop")
    wait_url = pending_url(server, "wait")
    ports = lc.info(server)
    wait_for(lambda: len(lc.lines(events1)) == 3, "three token_new events")

    v2 = {
        # Timings and hooks are not security-relevant: the token stays.
        "keep": "refresh_at_least = 2h;\nrefresh_retry = 5s;\n",
        "wait": "",
        "change": 'login_hint = "someone@example.com";\n',
        "new": "",
    }
    server.write_config(_config(fake_oauth, events2, v2, f'"127.0.0.1:{free_port()}"'))
    r = server.cli("reload")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")

    st = lc.status(server)
    assert list(st) == ["change", "keep", "new", "wait"]
    assert st["keep"].startswith("Active access token")
    assert st["wait"].startswith("Access token pending authentication")
    assert st["change"] == st["new"] == "No access token"
    assert lc.show_token(server, "keep") == kept
    assert pending_url(server, "wait") == wait_url
    assert lc.show(server, "drop") == (1, "", "ERROR - No account 'drop'\n")
    # The changed account's new authorisation carries its new settings.
    assert "login_hint=someone%40example.com" in pending_url(server, "change")
    # Listeners are not rebound; dropped tokens make no events; the new hook is in force.
    assert lc.info(server) == ports
    assert server.cli("revoke", "keep").returncode == 0
    wait_for(lambda: lc.lines(events2), "the event through the new hook")
    assert lc.lines(events2) == ["keep|token_revoked"]
    assert lc.lines(events1) == ["keep|token_new", "change|token_new", "drop|token_new"]
    # The authorisation that was pending before the reload still completes.
    assert follow(wait_url).status == 200
    wait_for(lambda: lc.show_token(server, "wait"), "the pending account's token")


def test_a_broken_config_changes_nothing(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    events = tmp_path / "events"
    good = _config(fake_oauth, events, {"a": "", "b": ""}, '"127.0.0.1:0"')
    server = servers(good)
    token = lc.login_with_fake(server, "a")
    url = pending_url(server, "b")
    before = server.cli("status").stdout

    broken = good.replace('account "b" {', 'account "b" {\n    no_such_option = "x";\n', 1)
    server.write_config(broken + 'account "c" {\n}\n')
    r = server.cli("reload")
    err = r.stderr.decode()
    assert r.returncode == 1 and r.stdout == b""
    assert err.startswith("ERROR - Line ") and "no_such_option" in err
    assert server.cli("status").stdout == before
    assert lc.show_token(server, "a") == token
    assert pending_url(server, "b") == url
    assert lc.show(server, "c")[2] == "ERROR - No account 'c'\n"

    # SIGHUP does the same: the error goes to the log, the server carries on.
    os.kill(server.pid, signal.SIGHUP)
    wait_for(
        lambda: lc.in_log(server, "ERROR - Reload on SIGHUP failed: Line "), "the logged error"
    )
    assert server.running()
    assert server.cli("status").stdout == before

    # And once the file is fixed, SIGHUP reloads it.
    server.write_config(good + fake_oauth.account_config("c"))
    os.kill(server.pid, signal.SIGHUP)
    wait_for(lambda: "c" in lc.status(server), "account c after SIGHUP")
    assert lc.show_token(server, "a") == token
    assert lc.show(server, "c")[2].startswith(PENDING)


def test_reload_discards_an_exchange_for_a_changed_account(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    events = tmp_path / "events"
    config = _config(fake_oauth, events, {"changed": "", "same": ""}, '"127.0.0.1:0"')
    server = servers(config)
    # Both exchanges are answered only once the reload is done.
    reloaded = threading.Event()
    slow = bearer("slow", "r")
    fake_oauth.script.extend([replace(slow, hold=reloaded), replace(slow, hold=reloaded)])
    for name in ("changed", "same"):
        assert follow(pending_url(server, name)).status == 200
    wait_for(lambda: len(fake_oauth.seen) == 2, "both exchanges under way")

    server.write_config(config.replace('"fake-client";', '"other-client";', 1))
    assert server.cli("reload").returncode == 0
    reloaded.set()
    wait_for(lambda: lc.in_log(server, "Discarding a token for changed"), "the discarded token")
    assert (
        wait_for(lambda: lc.show_token(server, "same"), "the unchanged account's token") == "slow"
    )
    assert lc.status(server)["changed"] == "No access token"
    wait_for(lambda: lc.lines(events), "token_new")
    assert lc.lines(events) == ["same|token_new"]


def test_show_answers_while_a_reload_is_still_reading_the_config(
    servers: ServerFactory, fake_oauth: FakeOAuth
) -> None:
    """The config is read and parsed off the server's loop: here the file is a FIFO nobody
    writes to yet, so the reload waits in its worker thread while ``show`` is answered."""
    server = servers(HEAD + fake_oauth.account_config())
    token = lc.login_with_fake(server)
    text = server.config_path.read_text()
    server.config_path.unlink()
    os.mkfifo(server.config_path)
    reload = subprocess.Popen(
        [*server.command, "reload"],
        env=server.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # Opening the FIFO for writing without blocking works once the server has it open.
        fd = wait_for(lambda: _open_writer(server.config_path), "the server to open the file")
        assert lc.show_token(server) == token  # the loop is free while the reload reads
        with os.fdopen(fd, "w") as fifo:
            fifo.write(text)
        _, err = reload.communicate(timeout=lc.WAIT)
        assert (reload.returncode, err) == (0, b"")
    finally:
        reload.kill()
        reload.wait()


def _open_writer(path: Path) -> int | None:
    try:
        return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # ENXIO: no reader yet
        return None


def test_a_pathological_config_is_refused_at_once(
    servers: ServerFactory, fake_oauth: FakeOAuth
) -> None:
    """A 160,000-character string before a syntax error took the old error reporter 39 s (a
    quadratic search for the word before the error), during which the server answered
    nothing. Now the reload answers within the CLI's ordinary time limit."""
    server = servers(HEAD + fake_oauth.account_config())
    token = lc.login_with_fake(server)
    server.write_config(HEAD + 'startup_cmd = "' + "a" * 160_000 + '" "b";\n')
    r = server.cli("reload")
    assert r.returncode == 1 and b"Syntax error: expected ';'" in r.stderr
    assert lc.show_token(server) == token
