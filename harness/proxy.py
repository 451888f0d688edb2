"""A real HTTP proxy (Debian's tinyproxy) on 127.0.0.1, owned by one test.

It runs in the foreground with a generated config in the test's own directory, on a port
asked of the kernel just before (retried if another process takes it first), and logs every
request it forwards, so that a test can see which token requests went through it:
``Request (file descriptor N): POST http://127.0.0.1:PORT/token HTTP/1.1``.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Self

from harness.procs import free_port, popen_in_group, read_text, wait_until
from harness.service import GroupService

START_TIMEOUT = 10.0
"""Seconds to wait for tinyproxy to accept connections (it takes milliseconds)."""
START_ATTEMPTS = 3
"""Ports tried: another process may take the one chosen between choosing and binding."""

_CONFIG = """\
Port {port}
Listen 127.0.0.1
Allow 127.0.0.1
Timeout 30
LogFile "{log}"
LogLevel Info
MaxClients 20
DisableViaHeader Yes
"""


class TinyProxy(GroupService):
    """``tinyproxy -d -c <dir>/tinyproxy.conf``; :attr:`url` is what ``http_proxy`` names."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "tinyproxy.log"
        self.out_path = self.dir / "tinyproxy.out"
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        for _ in range(START_ATTEMPTS):
            self.port = free_port()
            config = self.dir / "tinyproxy.conf"
            config.write_text(_CONFIG.format(port=self.port, log=self.log_path))
            self._proc = popen_in_group(
                ["tinyproxy", "-d", "-c", str(config)], env={}, log_path=self.out_path
            )
            if wait_until(self._accepting, START_TIMEOUT, abort=self._exited):
                return self
            self.stop()
        raise RuntimeError(f"tinyproxy did not start:\n{read_text(self.out_path)}")

    def _exited(self) -> bool:
        return self._proc is None or self._proc.poll() is not None

    def _accepting(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def requests(self) -> list[str]:
        """The request lines it forwarded so far, e.g. ``POST http://127.0.0.1:5/token``."""
        return re.findall(r"Request \(file descriptor \d+\): (\S+ \S+)", read_text(self.log_path))
