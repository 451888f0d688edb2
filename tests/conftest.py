"""Fixtures wiring the real-parts test infrastructure in ``harness``.

- ``pizauth_env``: a clean environment dict for subprocesses, with HOME, XDG_RUNTIME_DIR and
  XDG_CONFIG_HOME inside the test's tmp dir and no session bus.
- ``session_bus``: a private dbus-daemon started with ``pizauth_env``; its address is put into
  ``pizauth_env`` and into this process's environment.
- ``oidc`` (whole session, 10-minute tokens) and ``oidc_factory`` (per test, own settings).
- ``fake_oauth``: the scriptable fake token endpoint.
- ``servers``: a factory starting the real ``pizauth server`` on ``session_bus``.
- ``http_proxy``: a real tinyproxy of the test's own, logging what it forwards.
- ``system_bus``: a private stand-in for the system bus (``DBUS_SYSTEM_BUS_ADDRESS``);
  ``logind`` and ``networkmanager``: python-dbusmock's templates on it. Without them the
  servers see no system bus at all: ``pizauth_env`` points the variable at a missing socket,
  so that a developer's own logind or NetworkManager never reaches a test.

Each fixture stops what it started at teardown, test failed or not, and prints the logs of the
bus and servers it ran; pytest shows that output only for failing tests.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.dbus_daemon import PrivateBus
from harness.dbusmock import MockService
from harness.desktop import Desktop, recording_browser
from harness.fakeoauth import FakeOAuth
from harness.keyring import GnomeKeyring
from harness.notifications import FakeNotifications
from harness.oidc import OidcFactory, OidcProvider
from harness.proxy import TinyProxy
from harness.server import ServerFactory

BASE_PATH = "/usr/local/bin:/usr/bin:/bin"


@pytest.fixture
def pizauth_env(tmp_path: Path) -> dict[str, str]:
    """The environment for the test's subprocesses (server, CLI, bus, hooks).

    Built from scratch, so nothing leaks in from the developer's session (their bus, DISPLAY,
    BROWSER, proxies). Tests may add to it before starting processes. The venv's bin directory
    comes first on PATH so hooks that run ``pizauth`` find this checkout's.
    """
    home = tmp_path / "home"
    runtime = tmp_path / "runtime"
    config = tmp_path / "config"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    config.mkdir()
    return {
        "PATH": f"{Path(sys.executable).parent}:{BASE_PATH}",
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_CONFIG_HOME": str(config),
        "SHELL": "/bin/sh",
        "LANG": "C.UTF-8",
        "TMPDIR": str(tmp_path),
        "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path / 'no-system-bus'}",
    }


@pytest.fixture
def session_bus(
    pizauth_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[PrivateBus]:
    """A private dbus-daemon for this test.

    Services it activates inherit ``pizauth_env`` as it was when the bus started; push later
    additions with ``session_bus.update_activation_environment``.
    """
    bus = PrivateBus(pizauth_env)
    try:
        bus.start()
        pizauth_env["DBUS_SESSION_BUS_ADDRESS"] = bus.address
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.address)
        yield bus
    finally:
        # Drop the daemon's harmless complaint that it may not raise its file limit.
        log = "".join(
            line
            for line in bus.log().splitlines(keepends=True)
            if "Failed to set fd limit" not in line
        )
        bus.stop()
        if log:
            print(f"--- dbus-daemon log (and activated services) ---\n{log}")


@pytest.fixture(scope="session")
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """One oidc-provider for the whole run, access tokens valid for 10 minutes.

    Longer than the default refresh_before_expiry (90 s), so that no test refreshes unless it
    means to; tests of short-lived tokens make their own provider with ``oidc_factory``.
    Shared: tests must not depend on its state beyond the grants they make themselves.
    """
    provider = OidcProvider(at_ttl=600, log_dir=tmp_path_factory.mktemp("oidc"))
    try:
        yield provider.start()
    finally:
        provider.cleanup()


@pytest.fixture
def oidc_factory(tmp_path: Path) -> Iterator[OidcFactory]:
    """``oidc_factory(at_ttl=5, https_redirects=["https://localhost:8443/"])``."""
    factory = OidcFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def fake_oauth() -> Iterator[FakeOAuth]:
    """A started fake token endpoint; script it with ``fake_oauth.script.append(Reply(...))``."""
    fake = FakeOAuth()
    try:
        yield fake.start()
    finally:
        fake.stop()


@pytest.fixture
def servers(
    pizauth_env: dict[str, str], session_bus: PrivateBus, tmp_path: Path
) -> Iterator[ServerFactory]:
    """``servers(config_text) -> PizauthServer``: real servers at ``-vv`` on the test's bus."""
    yield from ServerFactory.fixture(pizauth_env, tmp_path)


@pytest.fixture
def keyring(pizauth_env: dict[str, str], session_bus: PrivateBus) -> Iterator[GnomeKeyring]:
    """A real, unlocked gnome-keyring (secrets only) on the test's bus, its files in $HOME."""
    with GnomeKeyring(pizauth_env) as k:
        yield k


@pytest.fixture
def notifications(session_bus: PrivateBus) -> Iterator[FakeNotifications]:
    """A fake ``org.freedesktop.Notifications`` on the test's bus, for the desktop tests."""
    with FakeNotifications(session_bus.address) as fake:
        yield fake


@pytest.fixture
def browser(tmp_path: Path) -> Path:
    """A ``$BROWSER`` that records the URLs it is given (``harness.desktop.opened`` reads them)."""
    return recording_browser(tmp_path)


@pytest.fixture
def desktop(servers: ServerFactory, fake_oauth: FakeOAuth, browser: Path) -> Desktop:
    """``desktop.start("acct")``: verbose servers on the fake provider, with the recording
    browser (``harness.desktop.Desktop``)."""
    return Desktop(servers, fake_oauth, browser)


@pytest.fixture
def http_proxy(tmp_path: Path) -> Iterator[TinyProxy]:
    """A started tinyproxy on 127.0.0.1; ``http_proxy.requests()`` lists what it forwarded."""
    with TinyProxy(tmp_path / "proxy") as proxy:
        yield proxy
        print(f"--- tinyproxy log ---\n{proxy.log_path.read_text()}")


@pytest.fixture
def system_bus(pizauth_env: dict[str, str]) -> Iterator[PrivateBus]:
    """A private dbus-daemon of type system; the servers started after it use it."""
    with PrivateBus(pizauth_env, kind="system") as bus:
        pizauth_env["DBUS_SYSTEM_BUS_ADDRESS"] = bus.address
        yield bus


@pytest.fixture
def logind(system_bus: PrivateBus, tmp_path: Path) -> Iterator[MockService]:
    """dbusmock's logind on ``system_bus``: emit ``PrepareForSleep`` with it."""
    with MockService("logind", system_bus.address, tmp_path) as mock:
        yield mock
        print(f"--- dbusmock logind ---\n{mock.log()}")


@pytest.fixture
def networkmanager(system_bus: PrivateBus, tmp_path: Path) -> Iterator[MockService]:
    """dbusmock's NetworkManager on ``system_bus``, connected (``State`` 70) at first."""
    with MockService("networkmanager", system_bus.address, tmp_path) as mock:
        yield mock
        print(f"--- dbusmock NetworkManager ---\n{mock.log()}")
