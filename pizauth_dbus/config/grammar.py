"""The pizauth.conf grammar in pyparsing, token by token: it explains syntax errors.

A valid file is read by :mod:`pizauth_dbus.config.scanner`; this grammar runs only when the
scanner stops, from the statement where it stopped, to say what was expected there and what was
found instead (:mod:`pizauth_dbus.config.diagnostics` words it), and to go on after the error so
that several can be reported at once. It accepts the same language as the scanner and builds
the same tree; the property tests hold the two to that. pyparsing is imported only when the
grammar is first built.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from functools import cache
from typing import TYPE_CHECKING

from pizauth_dbus.config.diagnostics import Diagnostic
from pizauth_dbus.config.diagnostics import explain as explain_at
from pizauth_dbus.config.lexicon import ACCOUNT_LINE, BARE, NAME, STRING, unescape
from pizauth_dbus.config.scanner import AccountBlock, Node, Setting

if TYPE_CHECKING:
    import pyparsing as pp

MAX_SYNTAX_ERRORS = 10
"""Stop reporting after this many syntax errors: later ones are increasingly likely to be echoes."""

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
def _document() -> pp.ParserElement:
    """Build the grammar once (building is slow, parsing is not)."""
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
    account = header - pp.ZeroOrMore(setting) - lit("}", "an option name or '}'")
    end = pp.StringEnd().set_name("an option name or 'account'")
    item = (account.add_parse_action(_account) | setting).add_parse_action(_read)
    document = pp.ZeroOrMore(item) + end
    return document.ignore(comment).parse_with_tabs()  # offsets must be the file's


_complete: ContextVar[list[Node]] = ContextVar("_complete")
"""The top-level nodes read so far in the current parse, kept when a later one fails."""


def _read(_s: str, _loc: int, t: pp.ParseResults) -> None:
    _complete.get().append(t[0])


def explain(text: str, start: int = 0) -> tuple[list[Node], list[Diagnostic]]:
    """Parse ``text`` token by token from ``start`` (the beginning of a top-level statement),
    and explain every syntax error.

    :returns: the nodes complete before the first error and up to :data:`MAX_SYNTAX_ERRORS`
        diagnostics; or, for text without errors, all its nodes from ``start`` and none. After
        an error, parsing resumes at the next line that starts an account block, which is
        always at the top level, so later reports are not echoes of earlier ones.
    """
    import pyparsing as pp

    document = _document()
    errors: list[Diagnostic] = []
    before_error: list[Node] = []
    # Everything before the start point is blanked (keeping newlines) so that every offset,
    # line and column still refers to the original text.
    work = _blank(text, start)
    while True:
        token = _complete.set([])
        try:
            nodes = list(document.parse_string(work))
        except pp.ParseBaseException as e:
            if not errors:
                before_error = _complete.get()
            errors.append(explain_at(text, e.loc, e.msg))
            resume = _next_account_line(text, e.loc)
            if resume is None or len(errors) >= MAX_SYNTAX_ERRORS:
                return before_error, errors
            work = _blank(text, resume)
        else:
            return (before_error, errors) if errors else (nodes, errors)
        finally:
            _complete.reset(token)


def _blank(text: str, end: int) -> str:
    return re.sub(r"[^\n]", " ", text[:end]) + text[end:]


def _next_account_line(text: str, pos: int) -> int | None:
    line_end = text.find("\n", pos)
    m = None if line_end < 0 else ACCOUNT_LINE.search(text, line_end + 1)
    return None if m is None else m.start()
