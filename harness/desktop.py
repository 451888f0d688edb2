"""Shared steps for the desktop-notification tests (``tests/test_desktop*.py``).

The real server runs with ``-vv`` (through the ``servers`` fixture), so its log can be checked
for warnings and tracebacks; the browser is a script named by ``$BROWSER`` that writes down the
URLs it is given, so a test knows exactly what a click opened. :class:`Desktop` holds the three
parts every such server is started with (the server factory, the fake provider and the recording
browser), so that a test names the accounts and nothing else.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

from harness.fakeoauth import FakeOAuth
from harness.server import PizauthServer, ServerFactory

WAIT = 10.0
"""Seconds allowed for anything the server does in reaction (it takes milliseconds)."""


def recording_browser(tmp_path: Path) -> Path:
    """A ``$BROWSER`` that appends each URL it is asked to open to ``opened-urls``."""
    script = tmp_path / "browser.sh"
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$1\" >> {tmp_path / 'opened-urls'}\n")
    script.chmod(0o755)
    return script


def opened(browser: Path) -> list[str]:
    """The URLs the recording browser was given, in order."""
    urls = browser.with_name("opened-urls")
    return urls.read_text().splitlines() if urls.exists() else []


def config(fake: FakeOAuth, *names: str, head: str = "") -> str:
    """A config with the fake provider's accounts ``names``, HTTPS off, ``head`` first."""
    return "https_listen = none;\n" + head + "".join(fake.account_config(n) for n in names)


def start(servers: ServerFactory, text: str, browser: Path) -> PizauthServer:
    """A verbose server on ``text`` whose browser is ``browser``."""
    return servers.start(text, extra_env={"BROWSER": str(browser)})


def kill(server: PizauthServer) -> None:
    """SIGKILL the server, as the OOM killer would: no chance to withdraw anything."""
    assert server.kill(WAIT) == -signal.SIGKILL


@dataclass(frozen=True)
class Desktop:
    """Verbose servers on the fake provider's accounts, each with the recording browser."""

    servers: ServerFactory
    fake: FakeOAuth
    browser: Path

    def config(self, *names: str, head: str = "") -> str:
        """:func:`config` with this fake provider."""
        return config(self.fake, *names, head=head)

    def start(self, *names: str, head: str = "") -> PizauthServer:
        """A server on :meth:`config` of ``names`` and ``head``."""
        return self.start_on(self.config(*names, head=head))

    def start_on(self, text: str) -> PizauthServer:
        """A server on the config ``text`` (:func:`start`)."""
        return start(self.servers, text, self.browser)

    def opened(self) -> list[str]:
        """What the browser was given so far (:func:`opened`)."""
        return opened(self.browser)
