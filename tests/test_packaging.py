"""``make install`` / ``make uninstall`` for packagers, run into a DESTDIR.

Checks what lands where, that the activation file, unit and desktop entry name the ``pizauth``
in BINDIR (not the /usr/bin the shipped files say), and that the installed copies still pass
their validators.
"""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

EXPECTED = [
    "lib/systemd/user/pizauth.service",
    "share/applications/pizauth.desktop",
    "share/bash-completion/completions/pizauth",
    "share/dbus-1/services/org.pizauth.service",
    "share/fish/vendor_completions.d/pizauth.fish",
    "share/man/man1/pizauth-dbus.1",
    "share/man/man1/pizauth.1",
    "share/man/man5/org.pizauth.5",
    "share/man/man5/pizauth.conf.5",
    "share/zsh/site-functions/_pizauth",
]


VARIABLES = ["PREFIX=/opt/pz", "BINDIR=/opt/pz/venv/bin"]


def _make(target: str, destdir: Path) -> None:
    r = subprocess.run(
        ["make", "-s", "-C", str(ROOT), target, f"DESTDIR={destdir}", *VARIABLES],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (r.returncode, r.stderr) == (0, ""), r


def test_make_install_and_uninstall_into_destdir(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    _make("install", dest)
    prefix = dest / "opt" / "pz"
    files = sorted(str(p.relative_to(prefix)) for p in prefix.rglob("*") if p.is_file())
    assert files == EXPECTED
    for name in files:
        assert stat.S_IMODE((prefix / name).stat().st_mode) == 0o644, name

    service = (prefix / EXPECTED[3]).read_text().splitlines()
    assert "Exec=/opt/pz/venv/bin/pizauth server -d" in service
    assert "SystemdService=pizauth.service" in service
    unit = (prefix / EXPECTED[0]).read_text().splitlines()
    assert "ExecStart=/opt/pz/venv/bin/pizauth server -d" in unit
    assert "ExecReload=/opt/pz/venv/bin/pizauth reload" in unit
    assert "Type=dbus" in unit and "BusName=org.pizauth" in unit
    desktop = prefix / EXPECTED[1]
    assert "Exec=/opt/pz/venv/bin/pizauth server" in desktop.read_text().splitlines()
    r = subprocess.run(
        ["desktop-file-validate", str(desktop)], capture_output=True, text=True, timeout=30
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    # The completions and man pages are the repository's, unchanged.
    assert (prefix / EXPECTED[2]).read_bytes() == (ROOT / "completions/pizauth.bash").read_bytes()
    assert (prefix / EXPECTED[5]).read_bytes() == (ROOT / "man/pizauth-dbus.1").read_bytes()
    assert (prefix / EXPECTED[6]).read_bytes() == (ROOT / "man/pizauth.1").read_bytes()

    _make("uninstall", dest)
    assert [p for p in prefix.rglob("*") if p.is_file()] == []


def test_the_provider_data_file_ships_with_the_package() -> None:
    """The assistant, the doctor and the server read ``config/providers.json`` from the
    installed package: the wheel must carry it."""
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = meta["tool"]["setuptools"]["package-data"]["pizauth_dbus"]
    assert "config/providers.json" in shipped
    assert (ROOT / "pizauth_dbus" / "config" / "providers.json").is_file()
