"""Fixtures wiring the real-parts test infrastructure in ``tests/support``.

- ``pizauth_env``: a clean environment dict for subprocesses, with HOME, XDG_RUNTIME_DIR and
  XDG_CONFIG_HOME inside the test's tmp dir and no session bus.
- ``session_bus``: a private dbus-daemon started with ``pizauth_env``; its address is put into
  ``pizauth_env`` and into this process's environment.
- ``oidc`` (whole session, AT_TTL=60) and ``oidc_factory`` (per test, own settings).
- ``fake_oauth``: the scriptable fake token endpoint.
- ``pizauth_server``: a factory starting the real ``pizauth server`` on ``session_bus``.

Each fixture stops what it started at teardown, test failed or not, and prints the logs of the
bus and servers it ran; pytest shows that output only for failing tests.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.support.bus import PrivateBus
from tests.support.fakeoauth import FakeOAuth
from tests.support.oidc import OidcProvider
from tests.support.server import PizauthServer

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
        log = bus.log()
        bus.stop()
        if log:
            print(f"--- dbus-daemon log (and activated services) ---\n{log}")


@pytest.fixture(scope="session")
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """One oidc-provider for the whole run, access tokens valid for 60 s.

    Shared: tests must not depend on its state beyond the grants they make themselves.
    """
    provider = OidcProvider(at_ttl=60, log_dir=tmp_path_factory.mktemp("oidc"))
    try:
        yield provider.start()
    finally:
        provider.cleanup()


class OidcFactory:
    """Starts per-test oidc-provider instances; all stopped at the test's teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp_path = tmp_path
        self._started: list[OidcProvider] = []

    def __call__(
        self,
        *,
        at_ttl: int = 60,
        rt_ttl: int = 3600,
        https_redirects: Sequence[str] = (),
        rotate_refresh_tokens: bool = False,
    ) -> OidcProvider:
        log_dir = self._tmp_path / f"oidc-{len(self._started)}"
        log_dir.mkdir()
        provider = OidcProvider(
            at_ttl=at_ttl,
            rt_ttl=rt_ttl,
            https_redirects=https_redirects,
            rotate_refresh_tokens=rotate_refresh_tokens,
            log_dir=log_dir,
        )
        self._started.append(provider)
        return provider.start()

    def stop_all(self) -> None:
        for provider in self._started:
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


class ServerFactory:
    """Starts real pizauth servers on the test's private bus; all stopped at teardown.

    ``start(config_text)`` writes ``$XDG_CONFIG_HOME/pizauth.conf`` (the default path, so CLI
    commands that read the config find the same file), starts ``pizauth server -d -c <it>`` and
    waits until it owns ``org.pizauth``.
    """

    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self._env = env
        self._tmp_path = tmp_path
        self._started: list[PizauthServer] = []

    def start(
        self,
        config_text: str,
        *,
        wait: bool = True,
        config_name: str = "pizauth.conf",
        extra_env: dict[str, str] | None = None,
    ) -> PizauthServer:
        """Start a server with ``config_text``.

        :param wait: wait until it owns ``org.pizauth`` (raising with its log if it exits
            first); pass False to test start-up failures (then use ``wait_exit``).
        :param config_name: file name inside ``$XDG_CONFIG_HOME``.
        :param extra_env: added to the server's (and its CLI calls') environment.
        """
        config_path = Path(self._env["XDG_CONFIG_HOME"]) / config_name
        config_path.write_text(config_text)
        env = {**self._env, **(extra_env or {})}
        server = PizauthServer(
            config_path,
            env,
            log_path=self._tmp_path / f"pizauth-server-{len(self._started)}.log",
        )
        self._started.append(server)
        return server.start(wait=wait)

    __call__ = start

    def stop_all(self) -> None:
        for server in reversed(self._started):
            server.stop()
        for server in self._started:
            print(f"--- {server.log_path.name} ---\n{server.log()}")


@pytest.fixture
def pizauth_server(
    pizauth_env: dict[str, str], session_bus: PrivateBus, tmp_path: Path
) -> Iterator[ServerFactory]:
    """``pizauth_server(config_text) -> PizauthServer`` (also ``pizauth_server.start(...)``)."""
    factory = ServerFactory(pizauth_env, tmp_path)
    try:
        yield factory
    finally:
        factory.stop_all()
