"""Configuration errors a person can act on: :class:`Diagnostic` and syntax-error explanations.

A diagnostic is one positioned message, rendered as upstream renders its errors (line,
column, the source line with a caret, the message) plus hints of our own. :func:`explain`
turns pyparsing's bare "expected X" into what was found instead and why it may be wrong.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from pizauth_dbus.config.lexicon import ACCOUNT_LINE, BARE, GAP, STRING

_RUST_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""What upstream's ``str::trim`` removes (Unicode White_Space), for the echoed source line."""


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
    prev_word = _last_word(before)
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
    if expected == "'='" and prev_word == "account":
        hints.append("account blocks can't be nested: is the '}' of the previous one missing?")
    elif expected == "'='" and prev_word and _looks_like_account(prev_word, token):
        hints.append("did you mean 'account'?")
    if expected == "a double-quoted string" and prev_word == "account":
        hints.append(f'account names are quoted strings, as in: account "{token or "name"}" {{')
    if expected == "a value" and token == ";":
        hints.append("every option needs a value")
    if expected == "an option name or '}'" and not token:
        starts = [m.start() for m in ACCOUNT_LINE.finditer(text)]
        if starts:
            opened = line_col(text, starts[-1])[0]
            hints.append(f"the account block starting on line {opened} is never closed")
    return Diagnostic(f"Syntax error: expected {expected}, found {found}", loc, hints=tuple(hints))


_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def _last_word(before: str) -> str | None:
    """The option name (:data:`~pizauth_dbus.config.lexicon.NAME`) that ``before`` ends with, if
    any.

    Found by walking back from the end, so the cost is the word's length: searching for
    ``NAME$`` would retry at every offset of a long string and take quadratic time.
    """
    i = len(before)
    while i > 0 and before[i - 1] in _WORD_CHARS:
        i -= 1
    return before[i:].lstrip("0123456789") or None


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
