"""The shell hooks: what each one sees, when it runs, its time limit, and that a failing or
hanging hook changes nothing else."""

from __future__ import annotations

import time
from pathlib import Path

from harness import lifecycle as lc
from harness.fakeoauth import FakeOAuth, Reply
from harness.flows import pending_url
from harness.procs import group_alive, wait_for
from harness.server import ServerFactory
from harness.texts import HEAD
from harness.user import follow

HOOK_TIMEOUT = 1.0
"""PIZAUTH_HOOK_TIMEOUT for these tests, in place of upstream's 10 s."""


def test_auth_notify_cmd_announces_and_reminds(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    told = tmp_path / "told"
    server = servers(
        HEAD
        + lc.setting("auth_notify_cmd", lc.recorder(told, "PIZAUTH_ACCOUNT", "PIZAUTH_URL"))
        + "auth_notify_interval = 1s;\n"
        + fake_oauth.account_config("my acct")
    )
    assert lc.lines(told) == []  # nothing pending, nothing said
    url = pending_url(server, "my acct")
    wait_for(lambda: len(lc.lines(told)) >= 2, "a reminder")
    assert set(lc.lines(told)) == {f"my acct|{url}"}
    assert lc.status(server)["my acct"].startswith(
        "Access token pending authentication (last notification "
    )

    # A new URL is announced at once, not at the next reminder.
    r = server.cli("refresh", "my acct")
    new_url = pending_url(server, "my acct")
    assert new_url != url and new_url in r.stderr.decode()
    wait_for(lambda: f"my acct|{new_url}" in lc.lines(told), "the new URL announced")

    # Once authorised, the reminders stop: two intervals pass without a word.
    assert follow(new_url).status == 200
    wait_for(lambda: lc.show_token(server, "my acct"), "the token")
    time.sleep(0.2)  # a reminder that was already on its way may land
    count = len(lc.lines(told))
    time.sleep(2.2)
    assert len(lc.lines(told)) == count


def test_each_hook_sees_its_variables(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    out = {name: tmp_path / name for name in ("notify", "error", "event", "startup", "status")}
    startup = (
        f"env > {out['startup']}; pizauth status > {out['status']}; "
        f"sleep {HOOK_TIMEOUT * 2}; touch {tmp_path / 'startup-done'}; exit 3"
    )
    server = servers(
        HEAD
        + lc.setting(
            "auth_notify_cmd",
            lc.recorder(out["notify"], "PIZAUTH_ACCOUNT", "PIZAUTH_URL", "INHERITED"),
        )
        + lc.setting(
            "error_notify_cmd",
            lc.recorder(out["error"], "PIZAUTH_ACCOUNT", "PIZAUTH_MSG", "INHERITED"),
        )
        + lc.setting(
            "token_event_cmd",
            lc.recorder(out["event"], "PIZAUTH_ACCOUNT", "PIZAUTH_EVENT", "INHERITED"),
        )
        + lc.setting("startup_cmd", startup)
        + fake_oauth.account_config(),
        extra_env={"INHERITED": "from-the-server", "PIZAUTH_HOOK_TIMEOUT": str(HOOK_TIMEOUT)},
    )
    # startup_cmd ran once the server was fully up: the bus name answered.
    wait_for(lambda: lc.lines(out["status"]), "startup_cmd's status call")
    assert lc.lines(out["status"]) == ["acct: No access token"]

    url = pending_url(server, "acct")
    wait_for(lambda: lc.lines(out["notify"]), "auth_notify_cmd")
    assert lc.lines(out["notify"]) == [f"acct|{url}|from-the-server"]

    fake_oauth.auth_error = "access_denied"
    assert follow(url).status == 400
    wait_for(lambda: lc.lines(out["error"]), "error_notify_cmd")
    assert lc.lines(out["error"]) == [
        "acct|Authentication for acct failed: access_denied|from-the-server"
    ]

    fake_oauth.auth_error = None
    lc.login_with_fake(server)
    wait_for(lambda: lc.lines(out["event"]), "token_event_cmd")
    assert lc.lines(out["event"]) == ["acct|token_new|from-the-server"]

    # startup_cmd has no time limit and no variables of its own; its failure is logged.
    wait_for(lambda: (tmp_path / "startup-done").exists(), "startup_cmd to finish")
    startup_env = lc.lines(out["startup"])
    assert "INHERITED=from-the-server" in startup_env
    assert not [v for v in startup_env if v.startswith(("PIZAUTH_ACCOUNT=", "PIZAUTH_URL="))]
    wait_for(lambda: lc.in_log(server, f"ERROR - '{startup}' returned 3"), "the failure")


def test_hanging_hooks_are_killed_at_their_time_limit(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    def hanging(name: str) -> str:
        # The hook's own pid is its process group; "sleep" is a grandchild that must die too.
        return f"echo $$ >> {tmp_path / name}; sleep 60; echo survived >> {tmp_path / name}"

    server = servers(
        HEAD
        + lc.setting("auth_notify_cmd", hanging("notify"))
        + lc.setting("error_notify_cmd", hanging("error"))
        + lc.setting("token_event_cmd", hanging("event"))
        + fake_oauth.account_config(),
        extra_env={"PIZAUTH_HOOK_TIMEOUT": str(HOOK_TIMEOUT)},
    )
    fake_oauth.auth_error = "access_denied"
    assert follow(pending_url(server, "acct")).status == 400  # auth_notify_cmd, error_notify_cmd
    for _ in range(2):  # two events: the second must run after the first is killed
        assert server.cli("revoke", "acct").returncode == 0

    def timed_out(name: str) -> bool:
        # Upstream's text names the command, which tells the three hooks apart here.
        return lc.in_log(server, f"ERROR - '{hanging(name)}' exceeded timeout")

    wait_for(lambda: timed_out("notify"), "auth_notify_cmd's timeout")
    wait_for(lambda: timed_out("error"), "error_notify_cmd's timeout")
    wait_for(lambda: len(lc.lines(tmp_path / "event")) == 2, "the second token event")
    wait_for(lambda: server.log().count("exceeded timeout") == 4, "the second event's timeout")
    assert timed_out("event")
    for name in ("notify", "error", "event"):
        pids = lc.lines(tmp_path / name)
        assert pids and "survived" not in pids
        for pid in pids:
            wait_for(lambda: not group_alive(int(pid)), f"{name} hook {pid} to be gone")  # noqa: B023
    # The server carried on regardless.
    assert lc.status(server)["acct"] == "No access token"
    assert server.running()


def test_failing_hooks_are_logged_and_change_nothing(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    server = servers(
        HEAD
        + lc.setting("auth_notify_cmd", "exit 5")
        + lc.setting("token_event_cmd", "exit 7")
        + fake_oauth.account_config()
    )
    assert lc.login_with_fake(server) == "at-1"
    wait_for(lambda: lc.in_log(server, "ERROR - 'exit 5' returned 5"), "exit 5")
    wait_for(lambda: lc.in_log(server, "ERROR - 'exit 7' returned 7"), "exit 7")
    assert lc.show_token(server) == "at-1"
    assert lc.status(server)["acct"].startswith("Active access token")


def test_token_events_run_one_at_a_time_in_order(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    log = tmp_path / "events"
    hook = f'echo "start $PIZAUTH_EVENT" >> {log}; sleep 0.3; echo "end $PIZAUTH_EVENT" >> {log}'
    server = servers(HEAD + lc.setting("token_event_cmd", hook) + fake_oauth.account_config())
    lc.login_with_fake(server)
    assert server.cli("refresh", "acct").returncode == 0
    wait_for(lambda: lc.in_log(server, "Token event token_refreshed"), "token_refreshed")
    fake_oauth.script.append(Reply(400, {"error": "invalid_grant"}))
    assert server.cli("refresh", "acct").returncode == 0
    wait_for(lambda: lc.in_log(server, "Token event token_invalidated"), "token_invalidated")
    assert server.cli("revoke", "acct").returncode == 0
    assert server.cli("revoke", "acct").returncode == 0  # already empty: still an event
    events = ["token_new", "token_refreshed", "token_invalidated", "token_revoked", "token_revoked"]
    expected = [f"{edge} {e}" for e in events for edge in ("start", "end")]
    wait_for(lambda: len(lc.lines(log)) == len(expected), "every event handled", timeout=10)
    assert lc.lines(log) == expected


def test_hooks_need_shell(
    servers: ServerFactory, fake_oauth: FakeOAuth, pizauth_env: dict[str, str]
) -> None:
    del pizauth_env["SHELL"]
    server = servers(HEAD + lc.setting("token_event_cmd", "true") + fake_oauth.account_config())
    assert server.cli("revoke", "acct").returncode == 0
    wait_for(
        lambda: lc.in_log(server, "ERROR - environment variable not found"),
        "the error",
    )
