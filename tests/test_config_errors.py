"""pizauth.conf errors beyond upstream: carets, hints, syntax errors, several errors at once."""

from __future__ import annotations

import pytest

from harness.texts import ENDPOINTS, MINIMAL, error_of
from pizauth_dbus.config import diagnostics, grammar
from pizauth_dbus.config.loader import ConfigParseError, parse


def diagnostics_of(text: str) -> tuple[diagnostics.Diagnostic, ...]:
    with pytest.raises(ConfigParseError) as e:
        parse(text)
    return e.value.diagnostics


def test_positioned_error_in_full() -> None:
    text = f'auth_notify_cmd = "a";\n  auth_notify_cmd = "b";\n{MINIMAL}'
    assert error_of(text) == (
        "Line 2, column 21:\n"
        '  auth_notify_cmd = "b";\n'
        "                    ^\n"
        "Mustn't specify 'auth_notify_cmd' more than once\n"
        "hint: 'auth_notify_cmd' is first set on line 1"
    )


def test_unpositioned_upstream_error_in_full() -> None:
    # Upstream has no position for this one: its text stays first, the location follows.
    text = f"http_listen = none;\n{MINIMAL}"
    assert error_of(text) == (
        "Account x has an 'http' redirect but the HTTP server is set to 'none'\n"
        "At line 2, column 1:\n"
        f"  {MINIMAL}\n"
        "  ^\n"
        f"hint: its redirect_uri is the default, http://localhost/\n"
        "hint: 'http_listen' is set to none on line 1: enable that listener or give the "
        "account an https redirect_uri"
    )


def test_syntax_error_in_full() -> None:
    text = 'account "x" {\n    client_id = "b"\n    token_uri = "http://f.com";\n}\n'
    assert error_of(text) == (
        "Line 3, column 5:\n"
        '  token_uri = "http://f.com";\n'
        "  ^\n"
        "Syntax error: expected ';', found 'token_uri'\n"
        "hint: is a ';' missing at the end of line 2?"
    )


@pytest.mark.parametrize("prefix", ["", "    ", "\t\t", "x = 1s; ", 'x = "é"; ', '\t y = "\t";\t'])
def test_caret_sits_under_the_column(prefix: str) -> None:
    text = f'{prefix}client_id = "a";\n{MINIMAL}'
    rendered = error_of(text).split("\n\n")[-1]
    lines = rendered.splitlines()
    code, caret = lines[1][2:], lines[2][2:]
    assert caret.endswith("^")
    # The caret's padding mirrors the echoed line up to the offending token (tabs kept).
    pad = caret[:-1]
    assert code[len(pad) :].startswith("client_id")
    assert pad.replace("\t", " ") == " " * len(pad)


def test_caret_accounts_for_wide_characters() -> None:
    text = f'startup_cmd = "日本"; startup_cmd = "x";\n{MINIMAL}'
    caret = error_of(text).splitlines()[2]
    # Each of the two wide characters takes two terminal cells.
    assert caret.index("^") == 2 + len('startup_cmd = "日本"; startup_cmd = ') + 2


def test_several_errors_at_once_in_file_order() -> None:
    text = (
        "auth_notify_cmd = 5s;\n"
        'account "x" {\n'
        '  auth_uri = "ftp://a/";\n'
        '  clientid = "b";\n'
        '  token_uri = "http://f.com";\n'
        '  auth_uri_fields = { "state": "s" };\n'
        "}\n"
        "refresh_retry = 10;\n"
    )
    parts = error_of(text).split("\n\n")
    messages = [
        next(ln for ln in p.splitlines() if not ln.startswith(("Line", " "))) for p in parts
    ]
    assert messages == [
        "'auth_notify_cmd' must be a double-quoted string, not the time 5s",
        "not a valid HTTP or HTTPS URI",
        "Unknown option 'clientid'",
        "'state' is a reserved key",
        "client_id not specified",
        "Invalid time '10'",
    ]
    assert "hint: 'clientid' on line 4 may be meant as 'client_id'" in parts[4]
    assert "hint: add a unit, e.g. 10s for seconds" in parts[5]


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        (
            'not_transient_error_if = "x";',
            "'not_transient_error_if' was removed in pizauth 0.3.0",
            "transient_error_if_cmd",
        ),
        (
            "refresh_retry_interval = 5s;",
            "'refresh_retry_interval' was replaced by 'refresh_retry' in pizauth 0.2.0",
            "rename it to 'refresh_retry'",
        ),
        (
            'auth_notify_commd = "x";',
            "Unknown option 'auth_notify_commd'",
            "did you mean 'auth_notify_cmd'?",
        ),
        ('Startup_Cmd = "x";', "Unknown option 'Startup_Cmd'", "did you mean 'startup_cmd'?"),
        (
            'client_secrt = "x";',
            "Unknown option 'client_secrt'",
            "did you mean 'client_secret'? (it is set inside an account block)",
        ),
        (
            'token_uri = "http://a";',
            "'token_uri' is an account option: it must be inside an account block",
            "move it into an account",
        ),
        (
            "http_listen = off;",
            "'http_listen' must be none or a double-quoted \"address:port\", not the bare word off",
            "write: http_listen = none;",
        ),
        (
            "https_listen = 8080;",
            "'https_listen' must be none or a double-quoted \"address:port\", "
            "not the bare word 8080",
            'strings are double-quoted: "8080"',
        ),
        (
            'refresh_retry = "30s";',
            "'refresh_retry' must be a time such as 90s, 5m, 1h or 2d, not a string",
            "times are not quoted: write refresh_retry = 30s;",
        ),
        ("refresh_retry = 5m30s;", "Invalid time '5m30s'", "only one unit is allowed: write 330s"),
        (
            "startup_cmd = none;",
            "'startup_cmd' must be a double-quoted string, not none",
            "only http_listen and https_listen accept none",
        ),
    ],
)
def test_messages_and_hints_at_top_level(text: str, message: str, hint: str) -> None:
    rendered = error_of(f"{text}\n{MINIMAL}")
    assert rendered.startswith("Line 1, column ")
    assert f"\n{message}\n" in rendered
    assert any(h.startswith("hint: ") and hint in h for h in rendered.splitlines())


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        (
            'transient_error_if_cmd = "x";',
            "'transient_error_if_cmd' is a global option: it can't be set inside an account",
            "move it to the top level",
        ),
        (
            'auth_error_cmd = "x";',
            "'auth_error_cmd' has been renamed to 'error_notify_cmd'",
            "rename it",
        ),
        (
            'scopes = "a";',
            '\'scopes\' must be a list of strings such as ["a", "b"], not a string',
            'scopes = ["a"];',
        ),
        (
            "client_secret = abc;",
            "'client_secret' must be a double-quoted string, not the bare word abc",
            '"abc"',
        ),
        (
            'auth_uri_fields = ["a"];',
            '\'auth_uri_fields\' must be a map of strings such as { "key": "value" }, not a list',
            "",
        ),
        ('redirect_uri = "localhost/";', "Invalid URI: relative URL without a base", "https://"),
        ('tokenuri = "x";', "Unknown option 'tokenuri'", "did you mean 'token_uri'?"),
    ],
)
def test_messages_and_hints_in_accounts(text: str, message: str, hint: str) -> None:
    rendered = error_of(f'account "x" {{\n  {ENDPOINTS}\n  {text}\n}}')
    assert rendered.startswith("Line 3, column ")
    assert f"\n{message}\n" in rendered + "\n"
    assert not hint or any(hint in h for h in rendered.splitlines() if h.startswith("hint: "))


@pytest.mark.parametrize(
    ("text", "line", "message", "hint"),
    [
        (
            'account "x" {\n  client_id = "a"\n  token_uri = "b";\n}',
            3,
            "expected ';', found 'token_uri'",
            "missing at the end of line 2",
        ),
        (
            'account "x" {\n  scopes = ["a", "b",];\n}',
            2,
            "expected a double-quoted string, found ']'",
            "trailing ','",
        ),
        (
            'account "x" {\n  auth_uri_fields = {"a": "b",};\n}',
            2,
            "expected a double-quoted string, found '}'",
            "trailing ','",
        ),
        ('account "x" {\n  scopes = ["a" "b"];\n}', 2, "expected ',' or ']', found \"b\"", ""),
        ('account "x" {\n  auth_uri_fields = {"a" = "b"};\n}', 2, "expected ':', found '='", ""),
        (
            'account "x" {\n  a = "a\\nb";\n}',
            2,
            "invalid escape '\\n' in string",
            "break the line inside the quotes",
        ),
        (
            'account "x" {\n  a = "a\nb\\qc";\n}',
            2,
            "invalid escape '\\q' in string",
            "the escape is at line 3, column 2",
        ),
        ('account "x" {\n  a = "ab;\n}', 2, "unterminated string", ""),
        ("# comment\n", 1, "unexpected character '#' (NUMBER SIGN)", "comments start with '//'"),
        ("/ comment\n", 1, "unexpected character '/' (SOLIDUS)", "comments start with '//'"),
        ("a = 'x';\n", 1, "unexpected character ''' (APOSTROPHE)", "double quotes"),
        (
            "a = “x”;\n",
            1,
            "unexpected character '“' (LEFT DOUBLE QUOTATION MARK)",
            "plain double quotes",
        ),
        (
            '\ufeffaccount "x" {}',
            1,
            "unexpected character U+FEFF (ZERO WIDTH NO-BREAK SPACE)",
            "byte order mark",
        ),
        (
            'a =\u00a0"x";',
            1,
            "unexpected character U+00A0 (NO-BREAK SPACE)",
            "only spaces, tabs and line breaks",
        ),
        ('a = "x";\x0c', 1, "unexpected character U+000C", "only spaces, tabs and line breaks"),
        (
            'account "x" {};',
            1,
            "expected an option name or 'account', found ';'",
            "not followed by ';'",
        ),
        ("}", 1, "expected an option name or 'account', found '}'", "no open account block"),
        (
            'account "x" {\n  a = "1";\n',
            3,
            "expected an option name or '}', found the end of the file",
            "starting on line 1 is never closed",
        ),
        ('account "x" {\n  account "y" {}\n}', 2, "expected '=', found \"y\"", "can't be nested"),
        ("account x {}", 1, "expected a double-quoted string, found 'x'", 'account "x" {'),
        ('acount "x" {}', 1, "expected '=', found \"x\"", "did you mean 'account'?"),
        ("refresh_retry = 90 s;", 1, "expected ';', found 's'", "without a space"),
        ('startup_cmd : "x";', 1, "expected '=', found ':'", "options are set with '='"),
        ("startup_cmd = ;", 1, "expected a value, found ';'", "every option needs a value"),
        ("startup_cmd = -5s;", 1, "unexpected character '-' (HYPHEN-MINUS)", ""),
        ('startup_cmd = "x"', 1, "expected ';', found the end of the file", ""),
        ('"x" = "y";', 1, "expected an option name or 'account', found \"x\"", ""),
    ],
)
def test_syntax_errors(text: str, line: int, message: str, hint: str) -> None:
    rendered = error_of(text)
    assert rendered.startswith(f"Line {line}, column ")
    assert f"\nSyntax error: {message}\n" in rendered + "\n"
    assert not hint or any(hint in h for h in rendered.splitlines() if h.startswith("hint: "))


def test_long_strings_are_shortened_in_syntax_errors() -> None:
    rendered = error_of('startup_cmd "' + "x" * 100 + '";')
    assert (
        "\nSyntax error: expected '=', found \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\""
        in rendered
    )


def test_syntax_errors_in_several_accounts() -> None:
    text = (
        'account "a" {\n  client_id = "x"\n}\n'
        'account "b" {\n  scopes = ["a",];\n}\n'
        'account "c" { bad }\n'
        "account \"d\" { tokenuri = 'x'; }\n"
    )
    diags = diagnostics_of(text)
    assert [diagnostics.line_col(text, d.pos or 0)[0] for d in diags] == [3, 5, 7, 8]


def test_syntax_errors_hide_other_checks() -> None:
    # The account is incomplete, so "client_id not specified" would be an echo of the missing
    # ';' and is not reported.
    diags = diagnostics_of('account "a" {\n  auth_uri = "x";\n  client_id = "x"\n}\n')
    assert len(diags) == 1
    assert diags[0].message.startswith("Syntax error")


def test_syntax_error_count_is_capped() -> None:
    text = "".join(f'account "{i}" {{ oops }}\n' for i in range(50))
    assert len(diagnostics_of(text)) == grammar.MAX_SYNTAX_ERRORS


def test_error_in_multiline_string_names_its_first_line() -> None:
    text = (
        f'account "x" {{\n  {ENDPOINTS}\n  client_secret = "a\nb";\n  client_secret = "c\nd";\n}}'
    )
    rendered = error_of(text)
    assert rendered.startswith('Line 5, column 19:\n  client_secret = "c\n')


@pytest.mark.parametrize(
    "text",
    [
        "",
        "auth_error_cmd = 1;",
        "http_listen = none; https_listen = none;",
        'account "x" { auth_uri = "#"; auth_uri_fields = {"state": "a", "login_hint": "b"}; }',
        f"{MINIMAL} refresh_retry = 99999999999999999999999d;",
    ],
)
def test_upstream_messages_are_whole_lines(text: str) -> None:
    upstream = {
        "Must specify at least one account",
        "'auth_error_cmd' has been renamed to 'error_notify_cmd'",
        "Cannot set both http_listen and https_listen to 'none'",
        "Invalid URI: relative URL without a base",
        "'state' is a reserved key",
        "client_id not specified",
        "Invalid time: number too large to fit in target type",
    }
    lines = set(error_of(text).splitlines())
    assert lines & upstream


def test_items_before_a_syntax_error_are_still_checked() -> None:
    text = (
        "auth_notify_cmd = 5s;\n"
        'account "a" { clientid = "x"; auth_uri = "http://a"; token_uri = "http://b"; }\n'
        'account "b" {\n'
        '  client_id = "x"\n'
        "}\n"
        "http_listen = none; https_listen = none;\n"
    )
    diags = diagnostics_of(text)
    assert [(diagnostics.line_col(text, d.pos or 0)[0], d.message) for d in diags] == [
        (1, "'auth_notify_cmd' must be a double-quoted string, not the time 5s"),
        (2, "Unknown option 'clientid'"),
        (2, "client_id not specified"),
        (5, "Syntax error: expected ';', found '}'"),
    ]


def test_errors_survive_pickling() -> None:
    import pickle

    with pytest.raises(ConfigParseError) as e:
        parse("")
    copy = pickle.loads(pickle.dumps(e.value))
    assert str(copy) == str(e.value)
