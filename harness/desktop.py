"""Shared steps for the desktop-notification tests (``tests/test_desktop*.py``).

The real server runs with ``-vv`` (through the ``servers`` fixture), so its log can be checked
for warnings and tracebacks; the browser is a script named by ``$BROWSER`` that writes down the
URLs it is given, so a test knows exactly what a click opened.
"""

from __future__ import annotations

import signal
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
