"""One way for a duty to tell others that something happened: a typed :class:`Signal`.

The duties publish what changes (an account's token state, a token event, a reminder, a failed
authorisation) and never call their listeners' methods themselves; ``server.serve`` connects
every listener in one place, so the wiring reads top to bottom there. A listener that raises
is logged and skipped: one broken listener (say, a notification service that misbehaves) must
never stop the token flow or the other listeners.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVarTuple

log = logging.getLogger(__name__)

Args = TypeVarTuple("Args")


class Signal(Generic[*Args]):
    """Listeners called in the order they were connected, synchronously, on the server's loop."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._listeners: list[Callable[[*Args], None]] = []

    def connect(self, listener: Callable[[*Args], None]) -> None:
        """Call ``listener(*args)`` on every :meth:`emit` from now on."""
        self._listeners.append(listener)

    def emit(self, *args: *Args) -> None:
        """Call every listener; one that raises is logged (no traceback unless debugging)."""
        for listener in self._listeners:
            try:
                listener(*args)
            except Exception as e:
                log.error("A listener of %s failed: %s", self.name, e or type(e).__name__)
                log.debug("The failure in detail", exc_info=True)
