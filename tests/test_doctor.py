"""``pizauth-dbus doctor`` on the private test bus: every ✔ with a healthy setup, and each ✘
on its own with its fix; the JSON schema; and that asking starts nothing.

The bus's service directory is laid out as an ``XDG_DATA_DIRS`` entry, so the doctor finds
activation files where a desktop session's bus would, and ``pizauth-dbus install`` writes
into it as it writes into a person's data directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

from harness.dbus_daemon import PrivateBus, name_has_owner
from harness.keyring import GnomeKeyring
from harness.notifications import FakeNotifications
from harness.oidc import OidcProvider
from harness.procs import free_port
from harness.server import ServerFactory, install_into
from harness.texts import HEAD

DOCTOR = [str(Path(sys.executable).with_name("pizauth-dbus")), "doctor"]
TOOL_TIMEOUT = 60


def _env(pizauth_env: dict[str, str], bus: PrivateBus | None) -> dict[str, str]:
    env = {**pizauth_env}
    if bus is not None:
        env["XDG_DATA_DIRS"] = str(bus.data_dir)
    return env


@pytest.fixture
def installed(pizauth_env: dict[str, str], session_bus: PrivateBus) -> dict[str, str]:
    """The doctor's environment, with ``pizauth-dbus install`` done into the bus's directory."""
    env = _env(pizauth_env, session_bus)
    install_into(env, session_bus)
    return env


def _doctor(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    r = subprocess.run(
        [*DOCTOR, "--json", *args], env=env, capture_output=True, timeout=TOOL_TIMEOUT, check=False
    )
    assert r.stderr == b"", r.stderr
    doc = json.loads(r.stdout)
    assert r.returncode == (0 if doc["ok"] else 1)
    return r.returncode, doc


def _fails(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in doc["checks"] if c["verdict"] == "fail"]


def _config(oidc: OidcProvider, head: str = "") -> str:
    return head + HEAD + oidc.account_config("work")


def _write_config(env: dict[str, str], text: str) -> None:
    (Path(env["XDG_CONFIG_HOME"]) / "pizauth.conf").write_text(text)


@pytest.fixture
def configured(
    oidc: OidcProvider, pizauth_env: dict[str, str], session_bus: PrivateBus
) -> dict[str, str]:
    """The doctor's environment on the test's bus, with a config of one account on the
    provider, and nothing installed."""
    env = _env(pizauth_env, session_bus)
    _write_config(env, _config(oidc))
    return env


@pytest.fixture
def installed_and_configured(oidc: OidcProvider, installed: dict[str, str]) -> dict[str, str]:
    """``installed``, with the config of one account on the provider written."""
    _write_config(installed, _config(oidc))
    return installed


def test_everything_well_is_all_ticks(
    oidc: OidcProvider,
    servers: ServerFactory,
    notifications: FakeNotifications,
    installed: dict[str, str],
) -> None:
    env = installed
    server = servers(_config(oidc))
    server.config_path.chmod(0o600)  # it holds a client secret
    code, doc = _doctor(env)
    assert code == 0, doc
    assert {c["verdict"] for c in doc["checks"]} == {"ok"}, doc
    areas = {c["area"] for c in doc["checks"]}
    assert {"bus", "server", "activation", "config", "desktop"} <= areas
    (running,) = [c for c in doc["checks"] if c["area"] == "server"]
    assert running["details"]["pid"] == server.pid
    assert running["details"]["ConfigPath"] == str(server.config_path)
    assert "running: pid" in running["text"] and "version" in running["text"]
    # The text form says the same, one line per check, with the symbols.
    r = subprocess.run(DOCTOR, env=env, capture_output=True, timeout=TOOL_TIMEOUT, check=False)
    lines = r.stdout.decode().splitlines()
    assert r.returncode == 0 and len(lines) == len(doc["checks"])
    assert all(line.startswith("✔ ") for line in lines), lines


def test_the_json_schema(configured: dict[str, str]) -> None:
    env = configured
    _, doc = _doctor(env)
    assert set(doc) == {"ok", "checks"} and isinstance(doc["ok"], bool)
    for c in doc["checks"]:
        assert set(c) == {"area", "verdict", "text", "fix", "details"}
        assert c["verdict"] in ("ok", "fail", "note")
        assert isinstance(c["text"], str) and isinstance(c["details"], dict)
        assert c["fix"] is None or (isinstance(c["fix"], str) and c["fix"])
        if c["verdict"] == "fail":
            assert c["fix"], c  # every problem comes with its fix


def test_no_bus(oidc: OidcProvider, pizauth_env: dict[str, str]) -> None:
    env = {k: v for k, v in pizauth_env.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    _write_config(env, _config(oidc))
    code, doc = _doctor(env)
    (fail,) = _fails(doc)
    assert code == 1 and fail["area"] == "bus"
    assert "does not exist" in fail["text"] and "dbus-run-session" in fail["fix"]


def test_no_server_and_no_activation_file_starts_nothing(
    session_bus: PrivateBus, configured: dict[str, str]
) -> None:
    env = configured
    code, doc = _doctor(env)
    (fail,) = _fails(doc)
    assert (code, fail["area"], fail["fix"]) == (1, "activation", "run pizauth-dbus install")
    assert not name_has_owner(session_bus.address, "org.pizauth")


def test_an_activation_file_whose_program_is_gone(
    session_bus: PrivateBus, configured: dict[str, str], tmp_path: Path
) -> None:
    env = configured
    session_bus.add_service("org.pizauth", [str(tmp_path / "gone" / "pizauth"), "server", "-d"])
    code, doc = _doctor(env)
    (fail,) = _fails(doc)
    assert code == 1 and fail["area"] == "activation" and "does not exist" in fail["text"]
    assert fail["fix"] == "run pizauth-dbus install again"
    # Asking never activates: the broken file was not even tried.
    assert "Activating service name='org.pizauth'" not in session_bus.log()


def test_an_installed_activation_file_and_no_server_is_fine(
    session_bus: PrivateBus, installed_and_configured: dict[str, str]
) -> None:
    env = installed_and_configured
    code, doc = _doctor(env)
    assert code == 0 and _fails(doc) == [], _fails(doc)
    assert not name_has_owner(session_bus.address, "org.pizauth")  # still nothing started


def test_a_config_error_is_shown_as_the_server_shows_it(installed: dict[str, str]) -> None:
    env = installed
    _write_config(env, 'http_listen = "127.0.0.1:0"\naccount "a" {}\n')
    code, doc = _doctor(env)
    (fail,) = _fails(doc)
    assert code == 1 and fail["area"] == "config"
    assert "Line 2, column 1" in fail["text"] or "line 2" in fail["text"].lower(), fail["text"]


def test_a_redirect_that_cannot_reach_its_listener(
    oidc: OidcProvider, installed: dict[str, str]
) -> None:
    env = installed
    _write_config(env, _config(oidc).replace('"127.0.0.1:0"', '"192.0.2.10:8080"'))
    code, doc = _doctor(env)
    (fail,) = _fails(doc)
    assert code == 1 and fail["area"] == "config"
    assert "account work: redirects to localhost" in fail["text"]
    assert "http_listen" in fail["fix"]


def test_no_notification_service_on_a_desktop(installed_and_configured: dict[str, str]) -> None:
    env = installed_and_configured
    _, without_display = _doctor(env)
    assert _fails(without_display) == []  # over SSH or on a server: only a note
    code, doc = _doctor({**env, "DISPLAY": ":99"})
    (fail,) = _fails(doc)
    assert code == 1 and fail["area"] == "desktop"
    assert fail["text"] == "no notification service"


def test_a_locked_keyring(
    oidc: OidcProvider, keyring: GnomeKeyring, installed: dict[str, str]
) -> None:
    env = installed
    _write_config(env, _config(oidc, head='token_store = "keyring";\n'))
    code, doc = _doctor(env)
    assert code == 0 and any(
        c["area"] == "keyring" and c["verdict"] == "ok" for c in doc["checks"]
    ), _fails(doc)
    keyring.lock()
    code, doc = _doctor(env)
    (fail,) = _fails(doc)
    assert code == 1 and fail["area"] == "keyring" and "locked" in fail["text"]
    assert "unlock" in fail["fix"]


def test_a_foreign_owner_of_the_name(
    session_bus: PrivateBus, installed_and_configured: dict[str, str]
) -> None:
    env = installed_and_configured
    with open_dbus_connection(bus=session_bus.address) as squatter:
        reply = squatter.send_and_get_reply(message_bus.RequestName("org.pizauth"))
        assert reply.body == (1,)
        code, doc = _doctor(env)
    (fail,) = _fails(doc)
    assert code == 1 and fail["area"] == "server"
    assert "is owned by process" in fail["text"] and fail["fix"].startswith("stop process")


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ('auth_notify_cmd = "notify-send hi";\n', "every prompt appears twice"),
        ("", "'login_hint' is deprecated"),
    ],
)
def test_known_pitfalls_are_notes(
    oidc: OidcProvider, head: str, expected: str, installed: dict[str, str]
) -> None:
    env = installed
    text = _config(oidc, head)
    if not head:
        text = text.replace("client_id =", 'login_hint = "me@example.org";\n    client_id =')
    _write_config(env, text)
    code, doc = _doctor(env)
    assert code == 0, _fails(doc)
    notes = [c for c in doc["checks"] if c["verdict"] == "note" and expected in c["text"]]
    assert len(notes) == 1 and notes[0]["fix"], doc


def test_no_config_file(installed: dict[str, str]) -> None:
    env = installed
    code, doc = _doctor(env)
    (fail,) = _fails(doc)
    assert code == 1 and fail["text"].startswith("No config file found at ")
    assert "pizauth.conf(5)" in fail["fix"]


def test_a_bad_command_line(pizauth_env: dict[str, str]) -> None:
    r = subprocess.run(
        [*DOCTOR, "--frobnicate"], env=pizauth_env, capture_output=True, timeout=TOOL_TIMEOUT
    )
    assert (r.returncode, r.stdout) == (2, b"")
    assert r.stderr == b"Usage: pizauth-dbus doctor [-c <config-path>] [--json] [--online]\n"


def test_online_checks_the_endpoints_only_when_asked(
    oidc: OidcProvider, installed_and_configured: dict[str, str]
) -> None:
    env = installed_and_configured
    _, offline = _doctor(env)
    assert not any(c["area"] == "online" for c in offline["checks"])
    code, doc = _doctor(env, "--online")
    online = [c for c in doc["checks"] if c["area"] == "online"]
    assert code == 0 and {c["verdict"] for c in online} == {"ok"} and len(online) == 2
    closed = f"http://127.0.0.1:{free_port()}/token"
    _write_config(env, _config(oidc).replace(oidc.token_uri, closed))
    code, doc = _doctor(env, "--online")
    (fail,) = _fails(doc)
    assert code == 1 and fail["area"] == "online" and closed in fail["text"]


def test_device_flow_accounts_and_googles_refusal(
    oidc: OidcProvider, installed: dict[str, str]
) -> None:
    _write_config(
        installed, _config(oidc).replace("work", "x") + oidc.account_config("dev", device=True)
    )
    code, doc = _doctor(installed)
    assert code == 0, _fails(doc)
    assert any(c["text"] == "account dev: device flow" for c in doc["checks"]), doc
    google = (
        'account "gmail" {\n'
        '    device_auth_uri = "https://oauth2.googleapis.com/device/code";\n'
        '    token_uri = "https://oauth2.googleapis.com/token";\n'
        '    client_id = "c";\n'
        '    scopes = ["https://mail.google.com/"];\n'
        "}\n"
    )
    _write_config(installed, _config(oidc) + google)
    code, doc = _doctor(installed)
    (fail,) = _fails(doc)
    assert code == 1 and "account gmail: device flow with Google" in fail["text"]
    assert "device_auth_uri" in fail["fix"]


def test_the_servers_proxy_and_monitors_next_to_the_shells(
    oidc: OidcProvider, servers: ServerFactory, installed: dict[str, str]
) -> None:
    """An activated server has the bus's environment, not the shell's: the doctor shows both
    proxies (without the password), and which network monitor and resume sources the server
    uses (none here: no system bus, so the clock only)."""
    server = servers(_config(oidc), extra_env={"https_proxy": "http://me:secret@127.0.0.1:3128"})
    server.config_path.chmod(0o600)  # else the doctor notes the readable client secret
    _, doc = _doctor({**installed, "HTTPS_PROXY": "http://127.0.0.1:8080"})
    (network,) = [c for c in doc["checks"] if c["area"] == "network"]
    assert network["text"] == "online; network monitor: none; resumes from: clock"
    (proxy,) = [c for c in doc["checks"] if c["area"] == "proxy"]
    assert proxy["verdict"] == "note"
    assert proxy["text"] == (
        "the server uses https_proxy=http://***@127.0.0.1:3128; "
        "this shell has https_proxy=http://127.0.0.1:8080"
    )
    assert "dbus-update-activation-environment https_proxy" in proxy["fix"]
    assert "secret" not in json.dumps(doc)


def _security(doc: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(c["verdict"], c["text"], c["fix"]) for c in doc["checks"] if c["area"] == "security"]


def _installed_file(env: dict[str, str], bus: PrivateBus, what: str) -> Path:
    return {
        "config": Path(env["XDG_CONFIG_HOME"]) / "pizauth.conf",
        "activation file": bus.services_dir / "org.pizauth.service",
        "systemd unit": Path(env["XDG_CONFIG_HOME"]) / "systemd" / "user" / "pizauth.service",
        "desktop entry": bus.data_dir / "applications" / "pizauth.desktop",
    }[what]


def test_nothing_others_can_change_is_one_tick(
    oidc: OidcProvider, session_bus: PrivateBus, installed: dict[str, str]
) -> None:
    _write_config(installed, _config(oidc))
    _installed_file(installed, session_bus, "config").chmod(0o600)
    _, doc = _doctor(installed)
    assert _security(doc) == [("ok", "nobody else can change pizauth's files or hooks", None)]


@pytest.mark.parametrize("what", ["config", "activation file", "systemd unit", "desktop entry"])
def test_files_others_can_change_are_reported(
    oidc: OidcProvider, session_bus: PrivateBus, installed: dict[str, str], what: str
) -> None:
    _write_config(installed, _config(oidc))
    _installed_file(installed, session_bus, "config").chmod(0o600)
    path = _installed_file(installed, session_bus, what)
    assert path.is_file()
    path.chmod(0o602)  # writable by everyone (readable only by its owner)
    code, doc = _doctor(installed)
    assert code == 1
    assert _security(doc) == [
        (
            "fail",
            f"the {what} {path} can be changed by others: it is writable by everyone",
            f"chmod go-w {path}",
        )
    ]
    path.chmod(0o600)
    os.chown(path, 4321, -1)  # the tests run as root: hand it to another user
    _, doc = _doctor(installed)
    assert _security(doc) == [
        (
            "fail",
            f"the {what} {path} can be changed by others: it belongs to another user (uid 4321)",
            f"replace {path} with a copy of your own",
        )
    ]


def test_a_directory_others_can_write_above_the_config_is_reported(
    oidc: OidcProvider, session_bus: PrivateBus, installed: dict[str, str]
) -> None:
    _write_config(installed, _config(oidc))
    config = _installed_file(installed, session_bus, "config")
    config.chmod(0o600)
    config.parent.chmod(0o777)
    unit = _installed_file(installed, session_bus, "systemd unit")
    _, doc = _doctor(installed)
    assert _security(doc) == [
        (
            "fail",
            f"the {what} {path} can be changed by others: its directory {config.parent} "
            "is writable by everyone",
            f"make the directories above {path} writable only by you (chmod go-w)",
        )
        for what, path in (("config", config), ("systemd unit", unit))  # both in ~/.config
    ]


def test_hooks_that_run_programs_others_can_change_are_reported(
    oidc: OidcProvider, session_bus: PrivateBus, installed: dict[str, str], tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    for name in ("on-event", "notify-me"):
        (shared / name).write_text("#!/bin/sh\n")
        (shared / name).chmod(0o755)
    shared.chmod(0o777)  # anyone may replace what is in it
    env = {**installed, "PATH": f"{shared}:{installed['PATH']}"}
    head = (
        f'token_event_cmd = "{shared}/on-event --quiet";\n'
        'auth_notify_cmd = "notify-me \\"$PIZAUTH_URL\\"";\n'
        'error_notify_cmd = "/bin/true";\n'
    )
    _write_config(env, _config(oidc, head))
    _installed_file(env, session_bus, "config").chmod(0o600)
    code, doc = _doctor(env)
    why = f"its directory {shared} is writable by everyone"
    fix = "make the directories above {} writable only by you (chmod go-w)"
    assert code == 1
    assert _security(doc) == [
        (
            "fail",
            f"auth_notify_cmd runs {shared}/notify-me, which others can change: {why}",
            fix.format(f"{shared}/notify-me"),
        ),
        (
            "fail",
            f"token_event_cmd runs {shared}/on-event, which others can change: {why}",
            fix.format(f"{shared}/on-event"),
        ),
    ]


def test_a_config_others_can_read_with_a_client_secret_is_noted(
    oidc: OidcProvider, session_bus: PrivateBus, installed: dict[str, str]
) -> None:
    _write_config(installed, _config(oidc))
    config = _installed_file(installed, session_bus, "config")
    config.chmod(0o644)
    code, doc = _doctor(installed)
    assert code == 0, _fails(doc)  # a note, not a failure: see doctor/tampering.py
    assert _security(doc) == [
        (
            "note",
            f"{config} holds the client_secret of work and others can read it",
            f"chmod 600 {config}",
        )
    ]
    # Without a secret in it, a readable config is fine.
    _write_config(installed, _config(oidc).replace('client_secret = "test-secret";', ""))
    assert "client_secret" not in config.read_text()
    _, doc = _doctor(installed)
    assert _security(doc) == [("ok", "nobody else can change pizauth's files or hooks", None)]
