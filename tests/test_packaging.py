"""Packaging: ``make install`` / ``make uninstall`` for packagers, run into a DESTDIR, and the
wheel a user's pip builds.

Checks what lands where, that the activation file, unit and desktop entry name the ``pizauth``
in BINDIR (not the /usr/bin the shipped files say), and that the installed copies still pass
their validators; and that an installed wheel, not the source tree, has every module and runs
both programs and a server.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness import texts
from harness.dbus_daemon import PrivateBus
from harness.procs import wait_for

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


def _run(argv: list[str], *, timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to the end (bounded), its output captured as text."""
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )


def test_an_installed_wheel_has_every_module_and_both_programs_run(
    tmp_path: Path, pizauth_env: dict[str, str], session_bus: PrivateBus
) -> None:
    # The wheel is built as a user's pip builds it, from a clean copy of the sources (a build in
    # the checkout would reuse what an earlier build left in build/, hiding a missing package),
    # and installed into a directory of its own, which comes first on the path, so the source
    # tree and its editable install stay out.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT / "pizauth_dbus", source / "pizauth_dbus", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    r = _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(source)],
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    (wheel,) = tmp_path.glob("pizauth_dbus-*.whl")
    target = tmp_path / "installed"
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target"]
    r = _run(
        [*install, str(target), str(wheel)],
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    env = {**pizauth_env, "PYTHONPATH": str(target)}
    sources = sorted(
        str(p.relative_to(ROOT).with_suffix("")).replace("/", ".").removesuffix(".__init__")
        for p in (ROOT / "pizauth_dbus").rglob("*.py")
        if "__pycache__" not in p.parts and p.name != "__main__.py"
    )
    check = (
        "import importlib, sys\n"
        "mods = sys.argv[1:]\n"
        "for m in mods:\n"
        "    assert importlib.import_module(m).__file__.startswith(sys.argv[0]), m\n"
    )
    r = _run(
        [sys.executable, "-c", check.replace("sys.argv[0]", repr(str(target))), *sources],
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert (target / "pizauth_dbus" / "py.typed").exists()
    assert (target / "pizauth_dbus" / "config" / "providers.json").exists()

    for program, usage in (("pizauth", "pizauth show"), ("pizauth-dbus", "pizauth-dbus doctor")):
        r = _run(
            [str(target / "bin" / program), "--help"],
            env=env,
            cwd=tmp_path,
            timeout=30,
        )
        assert usage in r.stderr, (program, r)

    config = tmp_path / "pizauth.conf"
    config.write_text(
        texts.HEAD + 'account "work" { auth_uri = "http://127.0.0.1:1/a"; '
        'token_uri = "http://127.0.0.1:1/t"; client_id = "c"; }\n'
    )
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(target / "bin" / "pizauth"), "server", "-d", "-c", str(config)],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=out,
        )
    try:
        wait_for(lambda: session_bus.name_has_owner("org.pizauth"), "the wheel's server")
        r = _run(
            [str(target / "bin" / "pizauth"), "status"],
            env=env,
            timeout=30,
        )
        assert (r.returncode, r.stdout) == (0, "work: No access token\n"), r
        subprocess.run(
            [str(target / "bin" / "pizauth"), "shutdown"], env=env, timeout=30, check=True
        )
        assert server.wait(timeout=15) == 0, log.read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)


def test_the_provider_data_file_ships_with_the_package() -> None:
    """The assistant, the doctor and the server read ``config/providers.json`` from the
    installed package: the wheel must carry it."""
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = meta["tool"]["setuptools"]["package-data"]["pizauth_dbus"]
    assert "config/providers.json" in shipped
    assert (ROOT / "pizauth_dbus" / "config" / "providers.json").is_file()
