"""The pizauth.conf grammar: text to a small syntax tree, or syntax errors.

This module owns the pyparsing grammar of upstream's configuration language (built on the
tokens of :mod:`pizauth_dbus.config.lexicon`), the syntax tree it produces (:class:`Setting`,
:class:`AccountBlock`) and error recovery; :mod:`pizauth_dbus.config.diagnostics` words the errors.
Which options exist and what their values mean is :mod:`pizauth_dbus.config.loader`'s business: the
grammar accepts any option name and any value shape, so that a misspelt option or a value of
the wrong kind gets a precise message (and several can be reported at once) instead of the bare
syntax error upstream gives.

pyparsing is imported only when the grammar is first built, so importing this module (or
:mod:`pizauth_dbus.config.loader`) stays cheap for the CLI; a valid file in the usual forms is read
by
the statement regexes alone (:func:`_scan`), so that a server start need not import it at all.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from pizauth_dbus.config.diagnostics import Diagnostic, explain
from pizauth_dbus.config.lexicon import ACCOUNT_LINE, BARE, GAP, NAME, STRING, unescape

if TYPE_CHECKING:
    import pyparsing as pp

MAX_SYNTAX_ERRORS = 10
"""Stop reporting after this many syntax errors: later ones are increasingly likely to be echoes."""
_STRINGS_IN = re.compile(rf"//[^\n]*+|({STRING})")
# Upstream's list and map rules start from an empty sequence and add ", item" to it, so one
# leading comma is allowed (`[, "a"]`) while a trailing one is not.
_LIST_BODY = rf"{GAP}(?:(?:,{GAP})?+{STRING}{GAP}(?:,{GAP}{STRING}{GAP})*+)?+"
_PAIR = rf"{STRING}{GAP}:{GAP}{STRING}{GAP}"
_MAP_BODY = rf"{GAP}(?:(?:,{GAP})?+{_PAIR}(?:,{GAP}{_PAIR})*+)?+"
# One regular expression per common statement: a whole `name = value;` costs one pyparsing
# match instead of a dozen. Anything it does not match falls through to the token-by-token
# grammar below, which accepts the same language and pinpoints errors.
_FAST_SETTING = re.compile(
    rf"{GAP}(?P<k>{NAME}){GAP}={GAP}"
    rf"(?:(?P<s>{STRING})|(?P<b>{BARE})|(?P<l>\[{_LIST_BODY}\])|(?P<m>\{{{_MAP_BODY}\}}))"
    rf"{GAP};"
)
_FAST_HEADER = re.compile(rf"{GAP}(?P<a>account){GAP}(?P<n>{STRING}){GAP}\{{")
_FAST_CLOSE = re.compile(rf"{GAP}\}}")
_FAST_END = re.compile(rf"{GAP}\Z")
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


# ==== Grammar ====
# Parse actions turn tokens into plain tuples, (value, pos) for strings and names and
# (kind, pos, payload) for values, which the statement actions assemble into tree nodes.


def _string_tok(_s: str, loc: int, t: pp.ParseResults) -> tuple[str, int]:
    return unescape(t[0]), loc


def _name_tok(_s: str, loc: int, t: pp.ParseResults) -> tuple[str, int]:
    return t[0], loc


def _bare_value(_s: str, loc: int, t: pp.ParseResults) -> tuple[str, int, str]:
    return "bare", loc, t[0]


def _string_value(_s: str, _loc: int, t: pp.ParseResults) -> tuple[str, int, str]:
    return "string", t[0][1], t[0][0]


def _list_value(_s: str, loc: int, t: pp.ParseResults) -> tuple[str, int, list[object]]:
    return "list", loc, list(t)


def _map_value(_s: str, loc: int, t: pp.ParseResults) -> tuple[str, int, list[object]]:
    return "map", loc, [tuple(p) for p in t]


def _fine_header(_s: str, loc: int, t: pp.ParseResults) -> tuple[int, str, int]:
    return loc, t[0][0], t[0][1]


def _fast_header(_s: str, _loc: int, t: pp.ParseResults) -> tuple[int, str, int]:
    m: re.Match[str] = t[0]
    return m.start("a"), unescape(m.group("n")), m.start("n")


def _fast_setting(_s: str, _loc: int, t: pp.ParseResults) -> Setting:
    return _setting_of(t[0])


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


def _fine_setting(_s: str, _loc: int, t: pp.ParseResults) -> Setting:
    (key, key_pos), (kind, pos, payload) = t[0], t[1]
    if kind == "list":
        items = tuple(s for s, _ in payload)
        return Setting(key, key_pos, kind, pos, items=items, item_pos=tuple(p for _, p in payload))
    if kind == "map":
        pairs = tuple((k, v) for (k, _), (v, _) in payload)
        keys_at = tuple(p for (_, p), _ in payload)
        return Setting(key, key_pos, kind, pos, pairs=pairs, item_pos=keys_at)
    return Setting(key, key_pos, kind, pos, payload)


def _account(_s: str, _loc: int, t: pp.ParseResults) -> AccountBlock:
    pos, name, name_pos = t[0]
    return AccountBlock(name, pos, name_pos, tuple(t[1:]))


@cache
def _document(fast: bool = True) -> pp.ParserElement:
    """Build the grammar once (building is slow, parsing is not).

    ``fast=False`` leaves out the whole-statement shortcuts, giving the reference grammar the
    tests compare the fast one against.
    """
    import pyparsing as pp

    comment = pp.Regex(r"//[^\n]*")

    def tok(expr: pp.ParserElement, name: str) -> pp.ParserElement:
        # Comments may sit between any two tokens. Only token-level elements skip them, not the
        # whole grammar, because each `ignore` costs a match attempt per element tried.
        return expr.set_name(name).ignore(comment)

    def lit(s: str, name: str | None = None) -> pp.ParserElement:
        return tok(pp.Suppress(pp.Literal(s)), name or f"'{s}'")

    string = tok(pp.Regex(STRING), "a double-quoted string").add_parse_action(_string_tok)
    name = tok(pp.Regex(NAME), "an option name").add_parse_action(_name_tok)
    bare = tok(pp.Regex(BARE), "a value").add_parse_action(_bare_value)
    quoted = string.copy().add_parse_action(_string_value)
    # One leading comma is allowed, as upstream's grammar allows it (see _LIST_BODY).
    strings = (lit(",") - string | string) + pp.ZeroOrMore(lit(",") - string)
    a_list = lit("[") - (lit("]") | strings - lit("]", "',' or ']'")).set_name("a string or ']'")
    pair = pp.Group(string - lit(":") - string)
    pairs = (lit(",") - pair | pair) + pp.ZeroOrMore(lit(",") - pair)
    a_map = lit("{") - (lit("}") | pairs - lit("}", "',' or '}'")).set_name("a string or '}'")
    value = (
        quoted | bare | a_list.add_parse_action(_list_value) | a_map.add_parse_action(_map_value)
    ).set_name("a value")
    setting = (name - lit("=") - value - lit(";")).add_parse_action(_fine_setting)
    header = (
        tok(pp.Suppress(pp.Keyword("account")), "'account'") - string - lit("{")
    ).add_parse_action(_fine_header)
    if fast:
        fast_setting = pp.Regex(_FAST_SETTING, as_match=True).add_parse_action(_fast_setting)
        setting = fast_setting | setting
        header = pp.Regex(_FAST_HEADER, as_match=True).add_parse_action(_fast_header) | header
    account = header - pp.ZeroOrMore(setting) - lit("}", "an option name or '}'")
    end = pp.StringEnd().set_name("an option name or 'account'")
    item = (account.add_parse_action(_account) | setting).add_parse_action(_read)
    document = pp.ZeroOrMore(item) + end
    return document.ignore(comment).parse_with_tabs()  # offsets must be the file's


_complete: ContextVar[list[Node]] = ContextVar("_complete")
"""The top-level nodes read so far in the current parse, kept when a later one fails."""


def _read(_s: str, _loc: int, t: pp.ParseResults) -> None:
    _complete.get().append(t[0])


def _scan(text: str) -> list[Node] | None:
    """The whole document by the statement regexes alone, without pyparsing; None as soon as
    something does not match them (an error, or a rarer form), for the grammar to decide.

    The same statements in the same order as :func:`_document`: at the top level a header is
    tried before a setting, as ``account`` may also be an option's name. For a typical file
    this is several times faster than even the grammar's shortcuts, whose per-statement
    bookkeeping (skipping, results objects) dominated parsing.
    """
    nodes: list[Node] = []
    pos = 0
    while True:
        if head := _FAST_HEADER.match(text, pos):
            pos = head.end()
            settings = []
            while m := _FAST_SETTING.match(text, pos):
                settings.append(_setting_of(m))
                pos = m.end()
            if not (close := _FAST_CLOSE.match(text, pos)):
                return None
            pos = close.end()
            name = unescape(head.group("n"))
            nodes.append(AccountBlock(name, head.start("a"), head.start("n"), tuple(settings)))
        elif m := _FAST_SETTING.match(text, pos):
            nodes.append(_setting_of(m))
            pos = m.end()
        else:
            return nodes if _FAST_END.match(text, pos) else None


def parse_document(text: str, *, fast: bool = True) -> tuple[list[Node], list[Diagnostic]]:
    """Parse ``text`` into top-level nodes, or explain why it is not valid syntax.

    :returns: all the nodes and no diagnostics; or, when there are syntax errors, the nodes
        complete before the first one and up to :data:`MAX_SYNTAX_ERRORS` diagnostics. After
        an error, parsing resumes at the next line that starts an account block, which is
        always at the top level, so later reports are not echoes of earlier ones.
    """
    if fast and (scanned := _scan(text)) is not None:
        return scanned, []
    import pyparsing as pp

    document = _document(fast)
    errors: list[Diagnostic] = []
    before_error: list[Node] = []
    work = text
    while True:
        token = _complete.set([])
        try:
            nodes = list(document.parse_string(work))
        except pp.ParseBaseException as e:
            if not errors:
                before_error = _complete.get()
            errors.append(explain(text, e.loc, e.msg))
            resume = _next_account_line(text, e.loc)
            if resume is None or len(errors) >= MAX_SYNTAX_ERRORS:
                return before_error, errors
            # Blank everything before the resume point (keeping newlines) so that every offset,
            # line and column still refers to the original text.
            work = re.sub(r"[^\n]", " ", text[:resume]) + text[resume:]
        else:
            return (before_error, errors) if errors else (nodes, errors)
        finally:
            _complete.reset(token)


def _next_account_line(text: str, pos: int) -> int | None:
    line_end = text.find("\n", pos)
    m = None if line_end < 0 else ACCOUNT_LINE.search(text, line_end + 1)
    return None if m is None else m.start()
