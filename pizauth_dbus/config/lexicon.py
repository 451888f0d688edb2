"""The lexical rules of pizauth.conf, as upstream pizauth 1.1 lexes its configuration.

Tokens (strings with their two escapes, option names, bare values such as times), the gaps
between them, and what a time token means. Shared by the grammar, which builds on these
patterns, and by the diagnostics, which re-read the text around an error. Only ``re``.
"""

from __future__ import annotations

import re

# Possessive quantifiers keep every pattern linear: nothing that follows a gap can start with
# whitespace or '/', so giving characters back could never help a match.
GAP = r"(?:[ \t\r\n]++|//[^\n]*+)*+"
"""Whitespace (space, tab, CR, LF only) and ``//`` comments between tokens."""
STRING = r'"(?:[^"\\]++|\\[\\"])*+"'
"""A double-quoted string whose only escapes are ``\\"`` and ``\\\\``; raw newlines allowed."""
NAME = r"[A-Za-z_][A-Za-z0-9_]*+"
"""An option name. Upstream only lexes its keywords; any other word is an error either way."""
BARE = r"[A-Za-z0-9_][A-Za-z0-9_.]*+"
"""An unquoted value: a time such as ``90s``, the keyword ``none``, or a mistake to explain."""
TIME = re.compile(r"([0-9]+)([dhms])")
TIME_MAX = 2**64 - 1
"""Upstream keeps times as unsigned 64-bit seconds; larger values are errors there too."""
TIME_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}

_ESCAPE = re.compile(r'\\(["\\])')
ACCOUNT_LINE = re.compile(r'^[ \t]*account[ \t]*"', re.MULTILINE)
"""A line that starts an account block: always at the top level, so a safe place to resume."""


def unescape(quoted: str) -> str:
    """The value of a lexed string token: quotes stripped, ``\\"`` and ``\\\\`` undone."""
    inner = quoted[1:-1]
    return _ESCAPE.sub(r"\1", inner) if "\\" in inner else inner


def seconds(token: str) -> int | str:
    """The seconds a time token such as ``90s`` stands for.

    :returns: the seconds; upstream's message if the value does not fit in 64 bits; or ``""``
        if ``token`` is not a time at all.
    """
    m = TIME.fullmatch(token)
    if m is None:
        return ""
    digits = m.group(1).lstrip("0") or "0"
    # Compare lengths first: int() refuses very long digit strings outright.
    if len(digits) > len(str(TIME_MAX)) or int(digits) > TIME_MAX:
        return "Invalid time: number too large to fit in target type"
    value = int(digits) * TIME_UNITS[m.group(2)]
    return "Invalid time: Number too big" if value > TIME_MAX else value


def time_hints(token: str) -> list[str]:
    """Hints for a bare value that was meant as a time but is not one."""
    hints = ["a time is a whole number and one unit: d (days), h, m or s, e.g. 90s"]
    parts = re.findall(r"([0-9]+)([dhms])", token)
    if token.isdigit():
        hints.append(f"add a unit, e.g. {token}s for seconds")
    elif parts and "".join(n + u for n, u in parts) == token:
        total = sum(int(n) * TIME_UNITS[u] for n, u in parts)
        hints.append(f"only one unit is allowed: write {total}s")
    return hints
