"""D-Bus activation: the first client call starts the server from the installed service file."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from harness import texts
from harness.dbus_daemon import PrivateBus
from harness.flows import authorise_account, gdbus
from harness.oidc import OidcProvider
from harness.procs import wait_until
from harness.server import PizauthServer, run_cli
from harness.texts import HEAD

PENDING = texts.PENDING.encode()
ROOT = Path(__file__).resolve().parent.parent


def _installed(env: dict[str, str], data_home: Path) -> list[Path]:
    """What ``pizauth-dbus install`` writes: activation file, systemd unit, desktop entry."""
    return [
        data_home / "dbus-1" / "services" / "org.pizauth.service",
        Path(env["XDG_CONFIG_HOME"]) / "systemd" / "user" / "pizauth.service",
        data_home / "applications" / "pizauth.desktop",
    ]


TOOL = Path(sys.executable).with_name("pizauth-dbus")
BUS_READ = "the session bus has read its service files again\n"


def _tool(env: dict[str, str], data_home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TOOL), *args],
        env={**env, "XDG_DATA_HOME": str(data_home)},
        capture_output=True,
        text=True,
        timeout=20,
    )


def _install(env: dict[str, str], data_home: Path) -> Path:
    """Run the real ``pizauth-dbus install`` and return the service file it wrote."""
    r = _tool(env, data_home, "install")
    files = _installed(env, data_home)
    wrote = "".join(f"wrote {f}\n" for f in files)
    assert (r.returncode, r.stderr) == (0, "") and r.stdout.startswith(wrote), r
    # Then one line on telling the session bus: done, or why not (never an error).
    told = r.stdout.removeprefix(wrote)
    assert told == BUS_READ or (told.startswith("note: ") and told.count("\n") == 1), told
    return files[0]


def _without_comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_install_writes_an_absolute_exec_and_uninstall_removes_it(
    pizauth_env: dict[str, str], tmp_path: Path
) -> None:
    service = _install(pizauth_env, tmp_path / "data")
    lines = service.read_text().splitlines()
    assert "[D-BUS Service]" in lines and "Name=org.pizauth" in lines
    (exec_line,) = [x for x in lines if x.startswith("Exec=")]
    argv = exec_line.removeprefix("Exec=").split()
    assert Path(argv[0]).is_absolute() and Path(argv[0]).name == "pizauth"
    assert argv[1:] == ["server", "-d"]
    assert "SystemdService=pizauth.service" in lines
    files = _installed(pizauth_env, tmp_path / "data")
    _, unit, desktop = files
    # The same files as data/ ships for packagers, but with this installation's pizauth.
    for path in files:
        shipped = (ROOT / "data" / path.name).read_text().replace("/usr/bin/pizauth", argv[0])
        assert _without_comments(path.read_text()) == _without_comments(shipped), path
    # Both validators accept the per-user copies.
    r = subprocess.run(
        ["desktop-file-validate", str(desktop)], capture_output=True, text=True, timeout=30
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "--user", str(unit)],
        env=pizauth_env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")

    r = _tool(pizauth_env, tmp_path / "data", "uninstall")
    runtime_bus = Path(pizauth_env["XDG_RUNTIME_DIR"]) / "bus"
    assert (r.returncode, r.stdout) == (
        0,
        "".join(f"removed {f}\n" for f in files)
        + "note: no session bus (DBUS_SESSION_BUS_ADDRESS is unset and "
        f"{runtime_bus} does not exist); a session bus started from now on reads the files "
        "itself\n",
    )
    assert not any(f.exists() for f in files)
    bad = _tool(pizauth_env, tmp_path / "data", "frob")
    assert bad.returncode == 1 and bad.stderr.startswith("Usage:")


def test_install_has_the_bus_read_the_file_before_it_returns(
    pizauth_env: dict[str, str], session_bus: PrivateBus
) -> None:
    # A new user's bus: the per-user service directory did not exist when it started, so
    # dbus-daemon watches nothing there (and dbus-broker watches no directory at all). Before
    # install asked the bus to reload, org.pizauth stayed unknown to ListActivatableNames (and
    # so to the doctor) until the next login.
    shutil.rmtree(session_bus.data_dir / "dbus-1")
    r = _tool(pizauth_env, session_bus.data_dir, "install")
    assert "org.pizauth" in session_bus.list_activatable_names()  # at once: no waiting
    assert r.returncode == 0 and r.stdout.endswith(BUS_READ), r
    r = _tool(pizauth_env, session_bus.data_dir, "uninstall")
    assert r.returncode == 0 and r.stdout.endswith(BUS_READ), r
    assert "org.pizauth" not in session_bus.list_activatable_names()


def test_first_show_starts_the_server(
    pizauth_env: dict[str, str], session_bus: PrivateBus, tmp_path: Path, oidc: OidcProvider
) -> None:
    config = Path(pizauth_env["XDG_CONFIG_HOME"]) / "pizauth.conf"
    config.write_text(HEAD + oidc.account_config("acct"))
    service = _install(pizauth_env, tmp_path / "data")
    assert not session_bus.name_has_owner("org.pizauth")
    shutil.copy(service, session_bus.services_dir / service.name)
    assert wait_until(lambda: "org.pizauth" in session_bus.list_activatable_names(), 10)

    r = run_cli(pizauth_env, "show", "acct")
    assert r.returncode == 1 and r.stderr.startswith(PENDING), r.stderr
    first_pid = session_bus.name_owner_pid("org.pizauth")
    assert first_pid is not None

    # The activated server is a complete one: a login through it yields a token.
    server = PizauthServer(config, pizauth_env, log_path=tmp_path / "unused.log")
    token, _ = authorise_account(server, "acct")
    assert oidc.introspect(token)["active"] is True

    # After a shutdown, gdbus activates a new server just the same.
    assert run_cli(pizauth_env, "shutdown").returncode == 0
    assert wait_until(lambda: not session_bus.name_has_owner("org.pizauth"), 10)
    g = gdbus(pizauth_env, "Show", "acct")
    assert "org.pizauth.Error.AuthorisationPending" in g.stderr
    second_pid = session_bus.name_owner_pid("org.pizauth")
    assert second_pid is not None and second_pid != first_pid
    assert run_cli(pizauth_env, "shutdown").returncode == 0


def test_activation_failure_is_reported_as_not_running(
    pizauth_env: dict[str, str], session_bus: PrivateBus, tmp_path: Path
) -> None:
    # No config file: the activated server exits 1 before owning the name.
    service = _install(pizauth_env, tmp_path / "data")
    shutil.copy(service, session_bus.services_dir / service.name)
    assert wait_until(lambda: "org.pizauth" in session_bus.list_activatable_names(), 10)
    r = run_cli(pizauth_env, "show", "acct")
    assert (r.returncode, r.stdout) == (1, b"")
    conf = Path(pizauth_env["XDG_CONFIG_HOME"]) / "pizauth.conf"
    # Upstream's line first, then why (upstream has no activation, so nothing to keep there).
    assert r.stderr.decode().splitlines() == [
        "ERROR - pizauth authenticator not running or not responding",
        f"The session bus could not start the server: No config file found at {conf}",
    ]
    assert "No config file found at" in session_bus.log()

    # A config with an error: the error, with its position, is shown right away.
    conf.write_text('account "acct" {\n  auth_uri = "ftp://x/";\n}\n')
    r = run_cli(pizauth_env, "show", "acct")
    err = r.stderr.decode()
    assert r.returncode == 1 and err.startswith(
        "ERROR - pizauth authenticator not running or not responding\n"
        "The session bus could not start the server: Line 2, column"
    ), err
    assert "not a valid HTTP or HTTPS URI" in err
