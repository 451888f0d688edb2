"""Errors that say what to do: a provider's error answer matched against the table of known
causes in the provider data file, giving a one-line hint.

The server adds the hint after upstream's message (the log, the desktop notification,
``$PIZAUTH_HINT`` for ``error_notify_cmd``, the bus's ``Errors``); the doctor shows it too.
``$PIZAUTH_MSG`` stays exactly upstream's. An answer no entry explains gets no hint: never a
guess. Standard library only (the doctor imports it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pizauth_dbus.config.providers import Hint, load

_AADSTS = re.compile(r"\bAADSTS(\d{4,8})\b")
"""Microsoft's error numbers, as its ``error_description`` starts them ("AADSTS50020: ...")."""
_ERROR_WORD = re.compile(r"\b([a-z]+(?:_[a-z]+)+|[a-z]+)\b")
"""An OAuth ``error`` value (RFC 6749 section 5.2: ``invalid_grant``, ...)."""


def codes_in(text: str) -> set[int]:
    """The AADSTS numbers named in ``text``."""
    return {int(n) for n in _AADSTS.findall(text)}


def matches(
    entry: Hint,
    message: str,
    *,
    codes: Iterable[int] = (),
    error: str | None = None,
    scopes: Iterable[str] = (),
    flow: str | None = None,
) -> bool:
    """Whether ``entry`` explains this answer (see :class:`~pizauth_dbus.config.providers.Hint`)."""
    if entry.flow is not None and entry.flow != flow:
        return False
    if entry.codes & (codes_in(message) | set(codes)):
        return True
    conditions = []
    if entry.errors:
        words = {error} if error else set(_ERROR_WORD.findall(message))
        conditions.append(bool(entry.errors & words))
    if entry.texts:
        folded = message.casefold()
        conditions.append(any(t.casefold() in folded for t in entry.texts))
    if entry.scopes:
        conditions.append(bool(entry.scopes & set(scopes)))
    # An entry with codes only must have matched by code; one with nothing else never matches.
    if not (entry.errors or entry.texts):
        return False
    return all(conditions)


def hint_for(
    message: str,
    *,
    codes: Iterable[int] = (),
    error: str | None = None,
    scopes: Iterable[str] = (),
    flow: str | None = None,
) -> str | None:
    """The first hint that explains ``message`` (the provider's words as the log shows them:
    its ``error`` and ``error_description``), or ``None``.

    :param codes: Microsoft's ``error_codes``, when the answer was read field by field.
    :param error: the answer's ``error``, when known apart from the message.
    :param scopes: the account's scopes (Google's device flow refuses one of them).
    :param flow: ``"device"`` for a device code sign-in, ``"redirect"`` otherwise.
    """
    codes = tuple(codes)
    scopes = tuple(scopes)
    for entry in load().hints:
        if matches(entry, message, codes=codes, error=error, scopes=scopes, flow=flow):
            return entry.hint
    return None
