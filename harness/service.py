"""What every part of the harness that runs something has in common.

A :class:`Service` (a private bus, a provider, the fake endpoint, a pizauth server, Xvfb, a
notification server, a bus monitor) is started, then stopped by whoever started it; as a
context manager it starts on entry if it has not been started yet, and on exit stops and
cleans up (:meth:`Service.cleanup`), whatever happened in between.
"""

from __future__ import annotations

import subprocess
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from harness.procs import stop_group


class Service(ABC):
    """Something the harness starts and must stop."""

    @abstractmethod
    def start(self) -> Self:
        """Start it and wait (bounded) until it is ready."""

    @abstractmethod
    def stop(self) -> object:
        """Stop it, bounded; idempotent."""

    @abstractmethod
    def started(self) -> bool:
        """Whether :meth:`start` has been called."""

    def cleanup(self) -> None:
        """Stop it, and remove what it leaves behind (by default, nothing); leaving its
        ``with`` block calls this."""
        self.stop()

    def __enter__(self) -> Self:
        return self if self.started() else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()


class GroupService(Service):
    """A service that is one program, run in a process group of its own (``procs``'
    ``popen_in_group``) into ``_proc`` by the subclass's :meth:`start`."""

    _proc: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self._proc is not None:
            stop_group(self._proc)
            self._proc = None

    def started(self) -> bool:
        return self._proc is not None

    @property
    def pid(self) -> int:
        """The program's process id."""
        if self._proc is None:
            raise RuntimeError(f"{type(self).__name__} was never started")
        return self._proc.pid

    def running(self) -> bool:
        """Whether the program is still running."""
        return self._proc is not None and self._proc.poll() is None
