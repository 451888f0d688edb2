"""Laptop life with the real server: logind announcing a resume and NetworkManager announcing
the network's comings and goings (python-dbusmock on a private system bus), and a server with
no system bus at all."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from harness import lifecycle as lc
from harness.dbus_daemon import PrivateBus
from harness.dbusmock import (
    NM_CONNECTED_GLOBAL,
    NM_DISCONNECTED,
    MockService,
    portal_network_monitor,
    prepare_for_sleep,
    set_nm_state,
    set_portal_available,
)
from harness.fakeoauth import FAST_DEVICE_POLLING, FakeOAuth, Reply
from harness.flows import GDBUS_CALL, device_code, wait_for_token
from harness.procs import wait_for, wait_until
from harness.server import PizauthServer, ServerFactory
from harness.texts import HEAD

FRESH_WITHIN = 3.0
"""The issue's promise: a fresh token within 3 s of the resume or the network's return."""
# Retries as fast as a test needs them: the floor under refresh_retry has its own tests.
KNOBS = {
    "PIZAUTH_HTTP_TIMEOUT": "0.5",
    "PIZAUTH_TRANSIENT_HOOK_TIMEOUT": "1",
    "PIZAUTH_REFRESH_RETRY_MIN": "0",
}


def _server(
    servers: ServerFactory,
    fake: FakeOAuth,
    tmp_path: Path,
    *,
    retry: str = "1h",
    top: str = "",
    extra: str = "",
    knobs: dict[str, str] | None = None,
    flag: str = "-vv",
) -> PizauthServer:
    return servers(
        HEAD
        + lc.setting("token_event_cmd", lc.recorder(tmp_path / "events", "PIZAUTH_EVENT"))
        + top
        + fake.account_config(extra=f"refresh_retry = {retry};\n")
        + extra,
        extra_env={**KNOBS, **(knobs or {})},
        flag=flag,
    )


def _sign_in_once_heard(server: PizauthServer, heard: str) -> None:
    """Wait for the log to say ``heard`` (news of resumes or of the network is listened for, so
    what the test does next is heard), then sign in: the first token is at-1."""
    wait_for(lambda: lc.in_log(server, heard), heard)
    assert lc.login_with_fake(server) == "at-1"


def _fresh_token_soon(server: PizauthServer) -> None:
    """The refreshed token is served within :data:`FRESH_WITHIN` of now."""
    t = time.monotonic()
    wait_for(lambda: lc.show_token(server) == "at-2", "a fresh token", timeout=FRESH_WITHIN)
    assert time.monotonic() - t < FRESH_WITHIN


def _fail_one_refresh(server: PizauthServer, fake: FakeOAuth, text: str) -> None:
    """Start a refresh that fails transiently; with refresh_retry = 1h, none follows soon."""
    fake.script.append(Reply(503))
    r = server.cli("refresh", "acct")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: lc.in_log(server, text), "the failed refresh")
    assert lc.show_token(server) == "at-1"


def test_a_resume_from_logind_refreshes_at_once(
    servers: ServerFactory, fake_oauth: FakeOAuth, logind: MockService, tmp_path: Path
) -> None:
    server = _server(servers, fake_oauth, tmp_path)
    _sign_in_once_heard(server, "Hearing of resumes from logind")
    _fail_one_refresh(server, fake_oauth, "Transitory refresh error for acct: HTTP code 503")

    prepare_for_sleep(logind, True)
    prepare_for_sleep(logind, False)
    prepare_for_sleep(logind, False)  # elogind says it twice: one resume
    _fresh_token_soon(server)
    assert server.log().count("Resumed from suspend (logind says so)") == 1
    assert len(fake_oauth.seen) == 3  # the exchange, the failure, the refresh after resume


def test_the_network_coming_back_refreshes_at_once(
    servers: ServerFactory, fake_oauth: FakeOAuth, networkmanager: MockService, tmp_path: Path
) -> None:
    server = _server(servers, fake_oauth, tmp_path)
    _sign_in_once_heard(server, "Network monitor: NetworkManager")
    set_nm_state(networkmanager, NM_DISCONNECTED)
    wait_for(lambda: lc.in_log(server, "The network is gone (NetworkManager)"), "offline")
    _fail_one_refresh(server, fake_oauth, "Transitory refresh error for acct (waiting for the")
    assert " [waiting for the network since " in lc.status(server)["acct"]

    set_nm_state(networkmanager, NM_CONNECTED_GLOBAL)
    _fresh_token_soon(server)
    assert lc.status(server)["acct"].startswith("Active access token (obtained ")
    assert "waiting for the network" not in lc.status(server)["acct"]


def test_the_portal_is_the_first_source_and_its_network_coming_back_refreshes_at_once(
    servers: ServerFactory,
    fake_oauth: FakeOAuth,
    session_bus: PrivateBus,
    networkmanager: MockService,
    tmp_path: Path,
) -> None:
    # Both the portal (on the session bus) and NetworkManager answer: the portal comes first,
    # as a sandbox-friendly desktop source, and its word decides.
    with MockService("portal", session_bus.address, tmp_path) as portal:
        portal_network_monitor(portal, True)
        server = _server(servers, fake_oauth, tmp_path)
        _sign_in_once_heard(server, "Network monitor: portal")
        set_portal_available(portal, False)
        wait_for(lambda: lc.in_log(server, "The network is gone (portal)"), "offline")
        _fail_one_refresh(server, fake_oauth, "Transitory refresh error for acct (waiting for the")

        set_portal_available(portal, True)
        _fresh_token_soon(server)
        assert "waiting for the network" not in lc.status(server)["acct"]


def test_an_outage_runs_no_hook_and_sends_no_reminder(
    servers: ServerFactory, fake_oauth: FakeOAuth, networkmanager: MockService, tmp_path: Path
) -> None:
    """Offline for many refresh attempts (retries compressed to 0.1 s): the sixth failure
    would ask transient_error_if_cmd, and a new Pending account would be announced at once.
    Neither happens while offline; once back, the first refresh succeeds and the waiting
    account is announced."""
    hook, notified = tmp_path / "hook", tmp_path / "notified"
    top = lc.setting("transient_error_if_cmd", lc.recorder(hook, "PIZAUTH_ACCOUNT")) + lc.setting(
        "auth_notify_cmd", lc.recorder(notified, "PIZAUTH_ACCOUNT")
    )
    other = fake_oauth.account_config("other")
    server = _server(
        servers,
        fake_oauth,
        tmp_path,
        retry="0s",
        top=top,
        extra=other,
        knobs={"PIZAUTH_OFFLINE_RETRY": "0.1"},
    )
    _sign_in_once_heard(server, "Network monitor: NetworkManager")
    wait_for(lambda: lc.lines(notified) == ["acct"], "the first sign-in's reminder")
    set_nm_state(networkmanager, NM_DISCONNECTED)
    wait_for(lambda: lc.in_log(server, "The network is gone"), "offline")

    fake_oauth.script.extend(Reply(503) for _ in range(10_000))
    r = server.cli("refresh", "acct")
    assert r.returncode == 0, r.stderr
    assert lc.show(server, "other")[0] == 1  # a new sign-in, while offline
    seen = len(fake_oauth.seen)
    wait_for(lambda: len(fake_oauth.seen) >= seen + 3 * 6, "eighteen failed refreshes")
    assert not hook.exists()
    assert lc.lines(notified) == ["acct"]
    assert lc.show_token(server) == "at-1"
    assert " [waiting for the network since " in lc.status(server)["other"]

    fake_oauth.script.clear()
    set_nm_state(networkmanager, NM_CONNECTED_GLOBAL)
    wait_for(lambda: "token_refreshed" in lc.lines(tmp_path / "events"), "the refresh")
    assert lc.show_token(server) == "at-2"
    wait_for(lambda: lc.lines(notified) == ["acct", "other"], "the held reminder")
    assert not hook.exists()
    assert "token_invalidated" not in lc.lines(tmp_path / "events")


def test_without_a_system_bus_everything_works_as_before(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    """pizauth_env points DBUS_SYSTEM_BUS_ADDRESS at a socket that does not exist: one debug
    line says so, and nothing else changes."""
    server = _server(servers, fake_oauth, tmp_path, retry="0s", flag="-vvv")
    _sign_in_once_heard(server, "Network monitor: none")
    r = server.cli("refresh", "acct")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: "token_refreshed" in lc.lines(tmp_path / "events"), "the refresh")
    assert lc.show_token(server) == "at-2"
    assert lc.status(server)["acct"].startswith("Active access token (obtained ")
    network = subprocess.run(
        [
            *GDBUS_CALL,
            "--method",
            "org.freedesktop.DBus.Properties.Get",
            "org.pizauth.Manager",
            "Network",
        ],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert "'state': 'online', 'monitor': 'none', 'resume': 'clock'" in network, network
    log = server.log()
    assert log.count("No system bus") == 1
    assert "DEBUG - No system bus (" in log
    problems = [
        line
        for line in log.splitlines()
        if line.startswith(("ERROR", "WARN")) and "desktop notification" not in line
    ]
    assert problems == [] and "Traceback" not in log
    assert "Hearing of resumes from logind" not in log


def test_device_code_polling_is_held_while_offline(
    servers: ServerFactory, fake_oauth: FakeOAuth, networkmanager: MockService, tmp_path: Path
) -> None:
    fake_oauth.device_interval = None  # poll every 0.2 s (FAST_DEVICE_POLLING)
    server = servers(
        HEAD + fake_oauth.account_config(device=True), extra_env={**KNOBS, **FAST_DEVICE_POLLING}
    )
    wait_for(lambda: lc.in_log(server, "Network monitor: NetworkManager"), "the monitor")
    device_code(server, "acct")
    wait_for(lambda: fake_oauth.device_polls() >= 2, "polling")
    set_nm_state(networkmanager, NM_DISCONNECTED)
    wait_for(lambda: lc.in_log(server, "The network is gone (NetworkManager)"), "offline")
    held = fake_oauth.device_polls()
    # Ten intervals offline: at most the one poll already under way when the network went.
    assert not wait_until(lambda: fake_oauth.device_polls() > held + 1, 2.0)
    fake_oauth.device_approved = True
    set_nm_state(networkmanager, NM_CONNECTED_GLOBAL)
    assert wait_for_token(server, "acct", timeout=10) == "at-1"
