"""A person at a terminal: a program run on a real pseudo-terminal (the standard library's
``pty``), read as it prints and answered as a person types. Every wait is bounded."""

from __future__ import annotations

import os
import pty
import select
import signal
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Self

EXPECT_TIMEOUT = 30.0
"""Seconds a prompt may take to appear (a discovery fetch, a sign-in, a cold import)."""


class Terminal:
    """``argv`` on a new pseudo-terminal, as its controlling terminal (so getpass reads it)."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: the terminal is already its stdin, stdout and stderr
            try:
                os.execvpe(argv[0], list(argv), {**env, "TERM": "dumb"})
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.output = ""
        self._seen = 0
        self.returncode: int | None = None

    def _read(self, deadline: float) -> bool:
        """Read what is there (waiting until ``deadline``); False at end of output."""
        ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not chunk:
            return False
        self.output += chunk.decode("utf-8", "replace").replace("\r\n", "\n")
        return True

    def expect(self, text: str, timeout: float = EXPECT_TIMEOUT) -> str:
        """Wait until ``text`` appears after what was last expected; returns the output up to
        and including it. :raises AssertionError: with the output, on timeout or exit."""
        deadline = time.monotonic() + timeout
        while (at := self.output.find(text, self._seen)) < 0:
            if time.monotonic() >= deadline or not self._read(deadline):
                raise AssertionError(f"never printed {text!r}; the terminal shows:\n{self.output}")
        seen, self._seen = self._seen, at + len(text)
        return self.output[seen : self._seen]

    def answer(self, line: str) -> None:
        """Type ``line`` and Enter."""
        os.write(self.fd, line.encode() + b"\r")

    def wait(self, timeout: float = EXPECT_TIMEOUT) -> int:
        """Read to the end, and return the exit code. :raises AssertionError: on timeout."""
        deadline = time.monotonic() + timeout
        while self._read(deadline):
            if time.monotonic() >= deadline:
                raise AssertionError(f"still running; the terminal shows:\n{self.output}")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                return self.returncode
            time.sleep(0.05)
        raise AssertionError("the program closed its terminal but did not exit")

    def close(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.returncode = -9
        os.close(self.fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
