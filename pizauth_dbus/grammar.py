"""The pizauth.conf grammar: text to a small syntax tree, and readable syntax errors.

This module owns the lexical rules and the pyparsing grammar of upstream's configuration
language, the syntax tree it produces (:class:`Setting`, :class:`AccountBlock`), and
:class:`Diagnostic`, the positioned message every configuration error is rendered from.
Which options exist and what their values mean is :mod:`pizauth_dbus.config`'s business: the
grammar accepts any option name and any value shape, so that a misspelt option or a value of
the wrong kind gets a precise message (and several can be reported at once) instead of the bare
syntax error upstream gives.

pyparsing is imported only when the grammar is first built, so importing this module (or
:mod:`pizauth_dbus.config`) stays cheap for the CLI.
"""

from __future__ import annotations

import re
import unicodedata
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyparsing as pp

# ==== Lexical rules (as pizauth 1.1 lexes its config) ====
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
_STRINGS_IN = re.compile(rf"//[^\n]*+|({STRING})")
_ESCAPE = re.compile(r'\\(["\\])')
_RUST_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""What upstream's ``str::trim`` removes (Unicode White_Space), for the echoed source line."""
MAX_SYNTAX_ERRORS = 10
"""Stop reporting after this many syntax errors: later ones are increasingly likely to be echoes."""


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


# ==== Diagnostics ====


def line_col(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column (in characters) of offset ``pos``, counting lines as upstream."""
    start = text.rfind("\n", 0, pos) + 1
    return text.count("\n", 0, pos) + 1, pos - start + 1


def _excerpt(text: str, pos: int) -> tuple[str, str]:
    """The trimmed source line holding ``pos`` and a caret line pointing at ``pos`` under it."""
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    line = text[start : len(text) if end < 0 else end]
    leading = len(line) - len(line.lstrip(_RUST_WHITESPACE))
    pad = []
    for c in line[leading : max(leading, pos - start)]:
        if c == "\t":
            pad.append("\t")  # keep tabs so the caret lines up in any terminal
        elif unicodedata.combining(c):
            continue
        else:
            pad.append("  " if unicodedata.east_asian_width(c) in "WF" else " ")
    return line.strip(_RUST_WHITESPACE), "".join(pad) + "^"


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a configuration file.

    ``message`` is upstream's exact text when upstream has the check. ``prefixed`` says whether
    upstream reports it as ``Line L, column C:`` + source line + message; otherwise the message
    comes first and the location (if any) follows, so upstream's text is still the first line.
    """

    message: str
    pos: int | None = None
    prefixed: bool = True
    hints: tuple[str, ...] = ()

    def render(self, text: str) -> str:
        """The printable text: location, source line with a caret, message, then hints."""
        out = []
        if self.pos is None:
            out.append(self.message)
        else:
            line, col = line_col(text, self.pos)
            code, caret = _excerpt(text, self.pos)
            where = [f"  {code}", f"  {caret}"]
            if self.prefixed:
                out += [f"Line {line}, column {col}:", *where, self.message]
            else:
                out += [self.message, f"At line {line}, column {col}:", *where]
        out += [f"hint: {h}" for h in self.hints]
        return "\n".join(out)


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
    m: re.Match[str] = t[0]
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


def parse_document(text: str, *, fast: bool = True) -> tuple[list[Node], list[Diagnostic]]:
    """Parse ``text`` into top-level nodes, or explain why it is not valid syntax.

    :returns: all the nodes and no diagnostics; or, when there are syntax errors, the nodes
        complete before the first one and up to :data:`MAX_SYNTAX_ERRORS` diagnostics. After
        an error, parsing resumes at the next line that starts an account block, which is
        always at the top level, so later reports are not echoes of earlier ones.
    """
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


_ACCOUNT_LINE = re.compile(r'^[ \t]*account[ \t]*"', re.MULTILINE)


def _next_account_line(text: str, pos: int) -> int | None:
    line_end = text.find("\n", pos)
    m = None if line_end < 0 else _ACCOUNT_LINE.search(text, line_end + 1)
    return None if m is None else m.start()


# ==== Explaining syntax errors ====

_GAP = re.compile(GAP)
_TOKEN = re.compile(rf"(?P<s>{STRING})|(?P<w>{BARE})|(?P<p>[=,{{}}\[\];:])")
_CHAR_HINTS = {
    "#": "comments start with '//' and run to the end of the line",
    "/": "comments start with '//' and run to the end of the line",
    "'": 'strings are written in double quotes (")',
    "\u201c": 'use plain double quotes ("), not typographic ones',
    "\u201d": 'use plain double quotes ("), not typographic ones',
    "\ufeff": "the file starts with a byte order mark: save it as UTF-8 without one",
}


def explain(text: str, loc: int, msg: str) -> Diagnostic:
    """Turn pyparsing's failure at ``loc`` into a diagnostic saying what was found and why."""
    loc = _GAP.match(text, min(loc, len(text))).end()  # type: ignore[union-attr]
    expected = msg.removeprefix("Expected ")
    if loc >= len(text):
        return _expected(text, loc, expected, "the end of the file", "")
    c = text[loc]
    m = _TOKEN.match(text, loc)
    if m is None and c == '"':
        return _bad_string(text, loc)
    if m is None:
        name = unicodedata.name(c, "")
        shown = f"'{c}'" if c.isprintable() and not c.isspace() else f"U+{ord(c):04X}"
        hints = [_CHAR_HINTS[c]] if c in _CHAR_HINTS else []
        if c.isspace():
            hints.append("only spaces, tabs and line breaks may separate tokens")
        desc = f"{shown} ({name})" if name else shown
        return Diagnostic(f"Syntax error: unexpected character {desc}", loc, hints=tuple(hints))
    token = m.group()
    shown = (token[:37] + '..."') if len(token) > 40 else token
    found = shown if m.group("s") else f"'{shown}'"
    return _expected(text, loc, expected, found, token)


def _expected(text: str, loc: int, expected: str, found: str, token: str) -> Diagnostic:
    before = text[:loc].rstrip(" \t\r\n")
    prev_line = before.count("\n") + 1
    prev_word = re.search(rf"({NAME})$", before)
    hints = []
    if expected == "';'" and prev_line < line_col(text, loc)[0]:
        hints.append(f"is a ';' missing at the end of line {prev_line}?")
    if expected == "';'" and re.fullmatch("[dhms]", token) and before[-1:].isdigit():
        hints.append("write a time without a space between number and unit, e.g. 90s")
    if token in ("]", "}") and before.endswith(","):
        hints.append("remove the trailing ',': lists and maps don't allow one")
    if expected == "an option name or 'account'" and token == ";" and before.endswith("}"):
        hints.append("an account block's closing '}' is not followed by ';'")
    elif expected == "an option name or 'account'" and token == "}":
        hints.append("there is no open account block for this '}' to close")
    if expected == "'='" and token == ":":
        hints.append("options are set with '=', as in: name = value;")
    if expected == "'='" and prev_word and prev_word.group(1) == "account":
        hints.append("account blocks can't be nested: is the '}' of the previous one missing?")
    elif expected == "'='" and prev_word and _looks_like_account(prev_word.group(1), token):
        hints.append("did you mean 'account'?")
    if expected == "a double-quoted string" and prev_word and prev_word.group(1) == "account":
        hints.append(f'account names are quoted strings, as in: account "{token or "name"}" {{')
    if expected == "a value" and token == ";":
        hints.append("every option needs a value")
    if expected == "an option name or '}'" and not token:
        starts = [m.start() for m in _ACCOUNT_LINE.finditer(text)]
        if starts:
            opened = line_col(text, starts[-1])[0]
            hints.append(f"the account block starting on line {opened} is never closed")
    return Diagnostic(f"Syntax error: expected {expected}, found {found}", loc, hints=tuple(hints))


def _looks_like_account(word: str, token: str) -> bool:
    import difflib

    return token.startswith('"') and bool(difflib.get_close_matches(word, ["account"], 1, 0.7))


def _bad_string(text: str, loc: int) -> Diagnostic:
    """A '"' that does not start a valid string: a forbidden escape, or no closing quote."""
    i = loc + 1
    while i < len(text) and text[i] != '"':
        if text[i] == "\\":
            nxt = text[i + 1 : i + 2]
            if not nxt:
                break
            if nxt not in ("\\", '"'):
                return _bad_escape(text, loc, i, nxt)
            i += 1
        i += 1
    return Diagnostic(
        "Syntax error: unterminated string",
        loc,
        hints=("a string runs from this '\"' to the next '\"' not preceded by a backslash",),
    )


def _bad_escape(text: str, loc: int, at: int, nxt: str) -> Diagnostic:
    hints = ["in a string a backslash must be followed by '\"' or '\\': write \\\\ for one '\\'"]
    if nxt == "n":
        hints.append("for a line break, break the line inside the quotes: that is allowed")
    same_line = "\n" not in text[loc:at]
    if not same_line:
        line, col = line_col(text, at)
        hints.insert(0, f"the escape is at line {line}, column {col}")
    shown = "\\" + nxt if nxt and nxt.isprintable() else "\\"
    return Diagnostic(
        f"Syntax error: invalid escape '{shown}' in string",
        at if same_line else loc,  # upstream names the opening quote's line; keep that line
        hints=tuple(hints),
    )
