"""Each account's last failure and what to do about it, for the bus's ``Errors`` and so for
``pizauth-dbus doctor``.

A failed sign-in or a refresh the provider refused is noted here with upstream's message and
the hint from :mod:`pizauth_dbus.config.hints` (empty when no known cause explains it). The
note goes away once the account has a token again, or is removed.
"""

from __future__ import annotations

import logging

from pizauth_dbus.config import hints
from pizauth_dbus.config.model import Account
from pizauth_dbus.server.state import Active, Entry

log = logging.getLogger(__name__)

HINT_PREFIX = "What to do: "
"""Before the hint where it follows upstream's message in the log."""


class Problems:
    """The last failure of each account: ``{account: (message, hint)}``."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[str, str]] = {}

    def note(self, account: Account, message: str, flow: str) -> str:
        """Note a failure of ``account``, log the hint if there is one, and return it ("" for
        none). ``flow`` is ``"device"``, ``"redirect"`` or ``"refresh"``."""
        hint = hints.hint_for(message, scopes=account.scopes, flow=flow) or ""
        if hint:
            log.error("%s%s", HINT_PREFIX, hint)
        self._last[account.name] = (message, hint)
        return hint

    def rows(self) -> list[tuple[str, str, str]]:
        """``(account, message, hint)`` for every account with a failure noted, sorted."""
        return [(name, msg, hint) for name, (msg, hint) in sorted(self._last.items())]

    def account_changed(self, name: str, old: Entry | None, new: Entry | None) -> None:
        if new is None or isinstance(new.token, Active):
            self._last.pop(name, None)
