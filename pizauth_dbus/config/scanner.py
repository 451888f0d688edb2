"""Reading pizauth.conf: its text to a small syntax tree, by one regular expression per
statement.

This module owns the syntax tree (:class:`Setting`, :class:`AccountBlock`) and the scanner that
every valid file is read by (:func:`scan`). The scanner accepts the whole of upstream's
language; when it meets something it cannot read, that is a syntax error, and only then is
pyparsing asked to explain it, starting at the statement where the scan stopped
(:func:`pizauth_dbus.config.loader.read_tree` joins the two): so a valid file never imports
pyparsing, and a broken one still gets a precise message. Which options exist and what their
values mean is :mod:`pizauth_dbus.config.checker`'s business: the tree holds any option name
and any value shape, so that a misspelt option or a value of the wrong kind gets a message of
its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pizauth_dbus.config.lexicon import BARE, GAP, NAME, STRING, unescape

# ==== Syntax tree ====


@dataclass(frozen=True, slots=True)
class Setting:
    """One ``name = value;`` statement, at the top level or inside an account block.

    ``kind`` is ``"string"`` (``text`` is the unescaped value), ``"bare"`` (``text`` is the
    unquoted token, e.g. ``90s`` or ``none``), ``"list"`` (``items``) or ``"map"`` (``pairs``).
    Positions are offsets into the source text; ``item_pos`` holds each list item's or map key's.
    """

    key: str
    key_pos: int
    kind: str
    pos: int
    text: str = ""
    items: tuple[str, ...] = ()
    pairs: tuple[tuple[str, str], ...] = ()
    item_pos: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountBlock:
    """One ``account "name" { ... }`` block; ``pos`` is where the word ``account`` starts."""

    name: str
    pos: int
    name_pos: int
    settings: tuple[Setting, ...]


Node = Setting | AccountBlock


# ==== Statements ====
# Upstream's list and map rules start from an empty sequence and add ", item" to it, so one
# leading comma is allowed (`[, "a"]`) while a trailing one is not.
_STRINGS_IN = re.compile(rf"//[^\n]*+|({STRING})")
_LIST_BODY = rf"{GAP}(?:(?:,{GAP})?+{STRING}{GAP}(?:,{GAP}{STRING}{GAP})*+)?+"
_PAIR = rf"{STRING}{GAP}:{GAP}{STRING}{GAP}"
_MAP_BODY = rf"{GAP}(?:(?:,{GAP})?+{_PAIR}(?:,{GAP}{_PAIR})*+)?+"
# One regular expression per statement: a whole `name = value;`, an account's header, its
# closing brace, the end of the file. Gaps (blanks and comments) may stand between any tokens.
_SETTING = re.compile(
    rf"{GAP}(?P<k>{NAME}){GAP}={GAP}"
    rf"(?:(?P<s>{STRING})|(?P<b>{BARE})|(?P<l>\[{_LIST_BODY}\])|(?P<m>\{{{_MAP_BODY}\}}))"
    rf"{GAP};"
)
_HEADER = re.compile(rf"{GAP}(?P<a>account){GAP}(?P<n>{STRING}){GAP}\{{")
_CLOSE = re.compile(rf"{GAP}\}}")
_END = re.compile(rf"{GAP}\Z")


def _setting_of(m: re.Match[str]) -> Setting:
    key, key_pos = m.group("k"), m.start("k")
    if (raw := m.group("s")) is not None:
        return Setting(key, key_pos, "string", m.start("s"), unescape(raw))
    if (raw := m.group("b")) is not None:
        return Setting(key, key_pos, "bare", m.start("b"), raw)
    group = "l" if m.group("l") is not None else "m"
    start = m.start(group)
    found = [
        (unescape(s.group(1)), start + s.start(1))
        for s in _STRINGS_IN.finditer(m.group(group))
        if s.group(1) is not None
    ]
    if group == "l":
        items = tuple(s for s, _ in found)
        return Setting(
            key, key_pos, "list", start, items=items, item_pos=tuple(p for _, p in found)
        )
    pairs = tuple((found[i][0], found[i + 1][0]) for i in range(0, len(found), 2))
    keys_at = tuple(p for _, p in found[::2])
    return Setting(key, key_pos, "map", start, pairs=pairs, item_pos=keys_at)


def scan(text: str) -> tuple[list[Node], int | None]:
    """The top-level statements of ``text``, read in order.

    :returns: every node and ``None`` when the whole text was read; otherwise the nodes read
        before the top-level statement that could not be, and where that statement starts.
    """
    nodes: list[Node] = []
    pos = 0
    while True:
        start = pos
        # At the top level a header is tried before a setting: ``account`` may also be read as
        # an option's name.
        if head := _HEADER.match(text, pos):
            pos = head.end()
            settings = []
            while m := _SETTING.match(text, pos):
                settings.append(_setting_of(m))
                pos = m.end()
            if not (close := _CLOSE.match(text, pos)):
                return nodes, start
            pos = close.end()
            name = unescape(head.group("n"))
            nodes.append(AccountBlock(name, head.start("a"), head.start("n"), tuple(settings)))
        elif m := _SETTING.match(text, pos):
            nodes.append(_setting_of(m))
            pos = m.end()
        elif _END.match(text, pos):
            return nodes, None
        else:
            return nodes, start
