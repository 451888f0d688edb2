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


def _install(env: dict[str, str], data_home: Path) -> Path:
    """Run the real ``pizauth-dbus install`` and return the service file it wrote."""
    tool = Path(sys.executable).with_name("pizauth-dbus")
    r = subprocess.run(
        [str(tool), "install"],
        env={**env, "XDG_DATA_HOME": str(data_home)},
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    files = _installed(env, data_home)
    assert r.stdout == "".join(f"wrote {f}\n" for f in files)
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

    tool = Path(sys.executable).with_name("pizauth-dbus")
    env = {**pizauth_env, "XDG_DATA_HOME": str(tmp_path / "data")}
    r = subprocess.run(
        [str(tool), "uninstall"], env=env, capture_output=True, text=True, timeout=20
    )
    assert (r.returncode, r.stdout) == (0, "".join(f"removed {f}\n" for f in files))
    assert not any(f.exists() for f in files)
    bad = subprocess.run([str(tool), "frob"], env=env, capture_output=True, text=True, timeout=20)
    assert bad.returncode == 1 and bad.stderr.startswith("Usage:")


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
