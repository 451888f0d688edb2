"""Property tests for pizauth.conf: any text gives a Config or a ConfigError, never anything
else; generated valid configs read back as the values they were generated from, and are read by the
scanner alone; and the reader agrees with the token-by-token reference grammar.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pizauth_dbus.config import diagnostics, grammar, lexicon, model, options, scanner
from pizauth_dbus.config.loader import ConfigParseError, parse, read_tree
from pizauth_dbus.config.model import Account, Config
from pizauth_dbus.errors import ConfigError

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ==== Arbitrary and almost-valid text ====

TOKENS = [
    *options.GLOBAL_OPTIONS,
    *options.ACCOUNT_OPTIONS,
    *options.REMOVED_OPTIONS,
    "account",
    "none",
    "off",
    "=",
    ";",
    ",",
    ":",
    "{",
    "}",
    "[",
    "]",
    '"x"',
    '"http://a.com/"',
    '"https://b/#f"',
    '"state"',
    '"login_hint"',
    '"a\\"b\\\\"',
    '"\\n"',
    '"',
    "\\",
    "90s",
    "5m",
    "0d",
    "18446744073709551616s",
    "99999999999999999999d",
    "1.5h",
    "12",
    "//",
    "// comment\n",
    "\n",
    "\t",
    "\r\n",
    "#",
    "\u00a0",
    "é",
]


@st.composite
def token_soup(draw: st.DrawFn) -> str:
    """Config-like text: the language's tokens, near misses and junk, loosely spaced."""
    tokens = draw(st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=3)), max_size=60))
    return "".join(t + draw(st.sampled_from(["", " ", "\n"])) for t in tokens)


def check_outcome(text: str) -> None:
    try:
        c = parse(text)
    except ConfigParseError as e:
        rendered = str(e)
        assert e.diagnostics
        lines = rendered.split("\n")
        for d in e.diagnostics:
            if "\n" not in d.message:  # account names may hold line breaks; messages don't
                assert d.message in lines  # upstream's text is always a whole line
    except ConfigError:
        raise AssertionError("parse errors are ConfigParseErrors") from None
    else:
        assert isinstance(c, Config)
        assert c.accounts


@SETTINGS
@given(st.text())
def test_any_text_gives_config_or_config_error(text: str) -> None:
    check_outcome(text)


@SETTINGS
@given(token_soup())
def test_token_soup_gives_config_or_config_error(text: str) -> None:
    check_outcome(text)


@SETTINGS
@given(token_soup())
def test_the_reader_agrees_with_the_reference_grammar(text: str) -> None:
    # The reader scans, and asks the grammar only from where the scan stopped; the reference
    # is the grammar alone, from the first character.
    assert read_tree(text) == grammar.explain(text)


# ==== Generated valid configurations ====

SAFE_TIME_UNITS = list(lexicon.TIME_UNITS.items())
host = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5}){0,2}", fullmatch=True)
path = st.from_regex(r"(/[A-Za-z0-9._~%!$&'()*+,;=:@-]{0,8}){0,3}", fullmatch=True)
query = st.from_regex(r"(\?[A-Za-z0-9=&._-]{0,12})?", fullmatch=True)
port = st.one_of(st.just(""), st.integers(0, 65535).map(lambda p: f":{p}"))


def uri(schemes: tuple[str, ...] = ("http", "https")) -> st.SearchStrategy[str]:
    parts = st.tuples(st.sampled_from(schemes), host, port, path, query)
    return parts.map(lambda p: f"{p[0]}://{''.join(p[1:])}")


@st.composite
def times(draw: st.DrawFn) -> tuple[str, int]:
    unit, factor = draw(st.sampled_from(SAFE_TIME_UNITS))
    n = draw(st.integers(0, (2**64 - 1) // factor))
    zeros = draw(st.sampled_from(["", "0", "00"]))
    return f"{zeros}{n}{unit}", n * factor


def quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class Model:
    """What a generated file says, as (option, source text) pairs, and what it must mean."""

    top: list[tuple[str, str]]
    accounts: list[tuple[str, list[tuple[str, str]]]]
    expected: Config


GAPS = [" ", "  ", "\n", "\t", "\r\n", " // a comment\n", "//\n", "\n\n    "]


@st.composite
def models(draw: st.DrawFn) -> Model:
    top: list[tuple[str, str]] = []
    glob: dict[str, object] = {}
    for name in ("auth_notify_cmd", "error_notify_cmd", "startup_cmd", "token_event_cmd",
                 "transient_error_if_cmd"):  # fmt: skip
        if draw(st.booleans()):
            value = draw(st.text())
            top.append((name, quote(value)))
            glob[name] = value
    for name in (
        "auth_notify_interval",
        "refresh_at_least",
        "refresh_before_expiry",
        "refresh_retry",
    ):
        if draw(st.booleans()):
            text, secs = draw(times())
            top.append((name, text))
            glob[name] = secs
    listeners = draw(st.sampled_from(["both", "http", "https"]))
    for name, scheme in (("http_listen", "http"), ("https_listen", "https")):
        if listeners in ("both", scheme):
            if draw(st.booleans()):
                addr = draw(st.text())
                top.append((name, quote(addr)))
                glob[name] = addr
        else:
            top.append((name, "none"))
            glob[name] = None
    schemes = ("http", "https") if listeners == "both" else (listeners,)

    accounts: list[tuple[str, list[tuple[str, str]]]] = []
    expected: dict[str, Account] = {}
    names = draw(st.lists(st.text(max_size=8), min_size=1, max_size=4, unique=True))
    for name in names:
        fields: list[tuple[str, str]] = []
        kw: dict[str, object] = {}
        for opt in ("auth_uri", "token_uri"):
            kw[opt] = draw(uri())
            fields.append((opt, quote(str(kw[opt]))))
        kw["client_id"] = draw(st.text())
        fields.append(("client_id", quote(str(kw["client_id"]))))
        if draw(st.booleans()):
            kw["client_secret"] = draw(st.text())
            fields.append(("client_secret", quote(str(kw["client_secret"]))))
        if draw(st.booleans()) or listeners != "both":
            kw["redirect_uri"] = draw(uri(schemes))
            fields.append(("redirect_uri", quote(str(kw["redirect_uri"]))))
        if draw(st.booleans()):
            scopes = draw(st.lists(st.text(max_size=10), max_size=4))
            kw["scopes"] = tuple(scopes)
            fields.append(("scopes", "[" + ", ".join(quote(s) for s in scopes) + "]"))
        pairs: list[tuple[str, str]] = []
        keys = st.text(max_size=8).filter(lambda k: k not in model.RESERVED_AUTH_URI_KEYS)
        if draw(st.booleans()):
            pairs = draw(st.lists(st.tuples(keys, st.text(max_size=8)), max_size=4))
            body = ", ".join(f"{quote(k)}: {quote(v)}" for k, v in pairs)
            fields.append(("auth_uri_fields", "{" + body + "}"))
        if not any(k == "login_hint" for k, _ in pairs) and draw(st.booleans()):
            hint = draw(st.text(max_size=8))
            fields.append(("login_hint", quote(hint)))
            pairs.append(("login_hint", hint))
        kw["auth_uri_fields"] = tuple(pairs)
        for opt, default in (
            ("refresh_at_least", model.REFRESH_AT_LEAST_DEFAULT),
            ("refresh_before_expiry", model.REFRESH_BEFORE_EXPIRY_DEFAULT),
            ("refresh_retry", model.REFRESH_RETRY_DEFAULT),
        ):
            if draw(st.booleans()):
                text, secs = draw(times())
                fields.append((opt, text))
                kw[opt] = secs
            else:
                kw[opt] = glob.get(opt, default)
        accounts.append((name, draw(st.permutations(fields))))
        expected[name] = Account(name=name, **kw)  # type: ignore[arg-type]

    # Whatever the file leaves out keeps the Config default.
    cfg = Config(accounts=expected, **glob)  # type: ignore[arg-type]
    return Model(draw(st.permutations(top)), accounts, cfg)


@st.composite
def rendered(draw: st.DrawFn) -> tuple[str, Config, list[str]]:
    """A model written out with arbitrary layout: gaps, comments, globals between accounts."""
    model = draw(models())
    gap = st.sampled_from(["", *GAPS])
    sep = st.sampled_from(GAPS)

    def setting(name: str, value: str) -> str:
        return f"{name}{draw(gap)}={draw(gap)}{value}{draw(gap)};"

    items = [setting(n, v) for n, v in model.top]
    for name, fields in model.accounts:
        body = draw(sep).join(setting(n, v) for n, v in fields)
        items.append(f"account{draw(sep)}{quote(name)}{draw(gap)}{{{draw(sep)}{body}{draw(sep)}}}")
    order = draw(st.permutations(range(len(items))))
    text = draw(gap) + draw(sep).join(items[i] for i in order) + draw(gap)
    names = [model.accounts[i - len(model.top)][0] for i in order if i >= len(model.top)]
    return text, model.expected, names


@SETTINGS
@given(rendered())
def test_generated_configs_read_back(case: tuple[str, Config, list[str]]) -> None:
    text, expected, names = case
    got = parse(text)
    assert got == expected
    assert list(got.accounts) == names  # file order


@SETTINGS
@given(rendered())
def test_the_reader_agrees_with_the_reference_grammar_on_valid_configs(
    case: tuple[str, Config, list[str]],
) -> None:
    text = case[0]
    assert read_tree(text) == grammar.explain(text)


@SETTINGS
@given(rendered())
def test_the_scanner_reads_every_valid_config_without_the_grammar(
    case: tuple[str, Config, list[str]],
) -> None:
    # Agreement alone would not notice a scanner that always gave up (the grammar would then
    # read everything, only slower): every valid file must be read by the scan to its end.
    text = case[0]
    nodes, stopped = scanner.scan(text)
    assert stopped is None
    assert (nodes, []) == grammar.explain(text)


@given(st.text(alphabet='ab9_ "=.\n'))
@SETTINGS
def test_the_word_before_an_error_is_found_as_the_regular_expression_finds_it(
    before: str,
) -> None:
    """The linear walk back (which replaced a quadratic regular-expression search) agrees
    with ``NAME$`` searched the old way, on text cut as the reporter cuts it (the gap before
    the error removed)."""
    import re

    before = before.rstrip(" \t\r\n")
    m = re.search(rf"({lexicon.NAME})$", before)
    assert diagnostics._last_word(before) == (m.group(1) if m else None)
