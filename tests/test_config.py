"""pizauth.conf: upstream's scenarios, its example configs, defaults, precedence and messages.

Each upstream unit test in config.rs has a counterpart here; the error-quality features that
go beyond upstream (carets, hints, several errors at once) are in test_config_errors.py.
"""

from __future__ import annotations

import pytest

from harness.texts import ENDPOINTS, MINIMAL, error_of
from pizauth_dbus.config import model
from pizauth_dbus.config.loader import parse
from pizauth_dbus.config.model import Config
from pizauth_dbus.errors import ConfigError
from pizauth_dbus.oauth import protocol as oauth
from pizauth_dbus.urls import with_port


def test_valid_config() -> None:
    c = parse(
        """
        auth_notify_cmd = "g";
        auth_notify_interval = 88m;
        error_notify_cmd = "j";
        http_listen = "127.0.0.1:56789";
        transient_error_if_cmd = "k";
        token_event_cmd = "q";
        account "x" {
            // Mandatory fields
            auth_uri = "http://a.com";
            auth_uri_fields = {"l": "m", "n": "o", "l": "p"};
            client_id = "b";
            scopes = ["c", "d"];
            token_uri = "http://f.com";
            // Optional fields
            client_secret = "h";
            login_hint = "i";
            redirect_uri = "http://e.com";
            refresh_at_least = 43m;
            refresh_before_expiry = 42s;
            refresh_retry = 33s;
        }
        """
    )
    assert c.error_notify_cmd == "j"
    assert c.auth_notify_cmd == "g"
    assert c.auth_notify_interval == 88 * 60
    assert c.http_listen == "127.0.0.1:56789"
    assert c.https_listen == model.LISTEN_DEFAULT
    assert c.transient_error_if_cmd == "k"
    assert c.token_event_cmd == "q"
    assert c.startup_cmd is None
    act = c.accounts["x"]
    assert act.name == "x"
    assert act.auth_uri == "http://a.com"
    # Ordered, duplicates kept; login_hint forwarded last (upstream parses and drops it).
    assert act.auth_uri_fields == (("l", "m"), ("n", "o"), ("l", "p"), ("login_hint", "i"))
    assert act.client_id == "b"
    assert act.client_secret == "h"
    assert act.redirect_uri == "http://e.com"
    assert act.token_uri == "http://f.com"
    assert act.scopes == ("c", "d")
    assert (act.refresh_at_least, act.refresh_before_expiry, act.refresh_retry) == (2580, 42, 33)
    assert any("'login_hint' is deprecated" in w for w in c.warnings)


def test_defaults() -> None:
    c = parse(MINIMAL)
    assert c == Config(accounts=c.accounts)
    assert (c.http_listen, c.https_listen) == ("127.0.0.1:0", "127.0.0.1:0")
    assert c.auth_notify_interval == model.AUTH_NOTIFY_INTERVAL_DEFAULT == 15 * 60
    act = c.accounts["x"]
    assert act == model.Account("x", "http://a.com", "http://f.com", "b")
    assert act.redirect_uri == model.REDIRECT_URI_DEFAULT == "http://localhost/"
    assert act.refresh_at_least == model.REFRESH_AT_LEAST_DEFAULT == 90 * 60
    assert act.refresh_before_expiry == model.REFRESH_BEFORE_EXPIRY_DEFAULT == 90
    assert act.refresh_retry == model.REFRESH_RETRY_DEFAULT == 40
    assert c.warnings == ()


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r'""', ""),
        (r'"a"', "a"),
        (r'"a\""', 'a"'),
        (r'"a\"b"', 'a"b'),
        (r'"\\"', "\\"),
        (r'"\\\""', '\\"'),
        ('"two\nlines"', "two\nlines"),  # raw newlines are allowed inside strings
        (r'"http://a // b"', "http://a // b"),  # no comment inside a string
        ('"tab\there"', "tab\there"),
    ],
)
def test_string_unescaping(literal: str, value: str) -> None:
    c = parse(f"startup_cmd = {literal};\n{MINIMAL}")
    assert c.startup_cmd == value


@pytest.mark.parametrize("literal", [r'"\n"', r'"\t"', r'"a\ b"', r'"\'"'])
def test_only_two_escapes(literal: str) -> None:
    msg = error_of(f"startup_cmd = {literal};\n{MINIMAL}")
    assert msg.startswith("Line 1, column ")
    assert "invalid escape" in msg


@pytest.mark.parametrize(
    ("time", "seconds"),
    [("0s", 0), ("1s", 1), ("1m", 60), ("2m", 120), ("1h", 3600), ("1d", 86400), ("007s", 7)],
)
def test_times(time: str, seconds: int) -> None:
    assert parse(f"auth_notify_interval = {time};\n{MINIMAL}").auth_notify_interval == seconds


def test_largest_time() -> None:
    c = parse(f"refresh_retry = 18446744073709551615s;\n{MINIMAL}")
    assert c.accounts["x"].refresh_retry == 2**64 - 1


@pytest.mark.parametrize(
    ("time", "message"),
    [
        ("18446744073709551616s", "Invalid time: number too large to fit in target type"),
        ("9223372036854775808m", "Invalid time: Number too big"),
        ("213503982334602d", "Invalid time: Number too big"),
        ("9" * 5000 + "s", "Invalid time: number too large to fit in target type"),
    ],
)
def test_invalid_time(time: str, message: str) -> None:
    # Upstream gives no position for these, so its message comes first, as there.
    msg = error_of(f"auth_notify_interval = {time};\n{MINIMAL}")
    assert msg.splitlines()[0] == message


def test_at_least_one_account() -> None:
    assert error_of("").splitlines()[0] == "Must specify at least one account"
    assert error_of("// only a comment\n").splitlines()[0] == "Must specify at least one account"
    assert error_of('startup_cmd = "x";').splitlines()[0] == "Must specify at least one account"


GLOBAL_DUPLICATES = [
    ("auth_notify_cmd", '"a"', '"a"'),
    ("auth_notify_interval", "1s", "2s"),
    ("error_notify_cmd", '"a"', '"a"'),
    ("token_event_cmd", '"a"', '"a"'),
    ("transient_error_if_cmd", '"a"', '"b"'),
    ("startup_cmd", '"a"', '"b"'),
    ("refresh_at_least", "1s", "2s"),
    ("refresh_before_expiry", "1s", "2s"),
    ("refresh_retry", "1s", "2s"),
    ("http_listen", '"a"', '"b"'),
    ("http_listen", "none", '"a"'),
    ("http_listen", '"a"', "none"),
    ("https_listen", '"a"', '"b"'),
    ("https_listen", "none", '"a"'),
]


@pytest.mark.parametrize(("name", "first", "second"), GLOBAL_DUPLICATES)
def test_duplicate_global_options(name: str, first: str, second: str) -> None:
    msg = error_of(f"{name} = {first}; {name} = {second};\n{MINIMAL}")
    # Upstream points at the second value.
    col = len(f"{name} = {first}; {name} = ") + 1
    assert msg.startswith(f"Line 1, column {col}:\n  {name} = {first}; {name} = {second};\n")
    assert f"\nMustn't specify '{name}' more than once\n" in msg


ACCOUNT_DUPLICATES = [
    ("auth_uri", '"http://a.com/"', '"http://b.com/"'),
    ("auth_uri_fields", '{"a": "b"}', '{"c": "d"}'),
    ("client_id", '"a"', '"b"'),
    ("client_secret", '"a"', '"b"'),
    ("login_hint", '"a"', '"b"'),
    ("redirect_uri", '"http://a.com/"', '"http://b.com/"'),
    ("refresh_before_expiry", "1m", "2m"),
    ("refresh_at_least", "1m", "2m"),
    ("refresh_retry", "1m", "2m"),
    ("scopes", '["a"]', '["b"]'),
    ("token_uri", '"http://a.com/"', '"http://b.com/"'),
]


@pytest.mark.parametrize(("name", "first", "second"), ACCOUNT_DUPLICATES)
def test_duplicate_account_options(name: str, first: str, second: str) -> None:
    text = f'account "x" {{ {name} = {first}; {name} = {second}; }}'
    msg = error_of(text)
    assert f"\nMustn't specify '{name}' more than once\n" in msg
    # Upstream points at the value, except for scopes and auth_uri_fields (the option name).
    at = text.rindex(name) if name in ("scopes", "auth_uri_fields") else text.rindex(second)
    assert msg.startswith(f"Line 1, column {at + 1}:\n")


def test_auth_error_cmd_renamed() -> None:
    msg = error_of(f'auth_error_cmd = "x";\n{MINIMAL}')
    assert msg.startswith(
        'Line 1, column 1:\n  auth_error_cmd = "x";\n  ^\n'
        "'auth_error_cmd' has been renamed to 'error_notify_cmd'\n"
    )


def test_both_listeners_none() -> None:
    msg = error_of(f"http_listen = none;\nhttps_listen = none;\n{MINIMAL}")
    assert msg.splitlines()[0] == "Cannot set both http_listen and https_listen to 'none'"
    # Checked before "at least one account", as upstream does.
    msg = error_of("http_listen = none;\nhttps_listen = none;\n")
    first, second = msg.split("\n\n")
    assert first.startswith("Cannot set both http_listen and https_listen to 'none'")
    assert second.startswith("Must specify at least one account")


def test_one_listener_none_is_fine() -> None:
    https_only = f'account "x" {{ {ENDPOINTS} redirect_uri = "https://l/"; }}'
    c = parse(f"http_listen = none;\n{https_only}")
    assert (c.http_listen, c.https_listen) == (None, "127.0.0.1:0")
    c = parse(f"https_listen = none;\n{MINIMAL}")
    assert (c.http_listen, c.https_listen) == ("127.0.0.1:0", None)


def test_quoted_none_is_an_address() -> None:
    # Only the unquoted keyword disables a listener; "none" in quotes is an address, as upstream.
    assert parse(f'http_listen = "none";\n{MINIMAL}').http_listen == "none"


@pytest.mark.parametrize("uri", ["httpx://", "ftp://blah/", "mailto:someone@example.com"])
def test_http_or_https_redirect_uris_only(uri: str) -> None:
    msg = error_of(f'account "x" {{ {ENDPOINTS} redirect_uri = "{uri}"; }}')
    assert "\nnot a valid HTTP or HTTPS URI" in msg


def test_correct_listener_for_account() -> None:
    msg = error_of(f"http_listen = none;\n{MINIMAL}")
    assert msg.splitlines()[0] == (
        "Account x has an 'http' redirect but the HTTP server is set to 'none'"
    )
    msg = error_of(
        f'https_listen = none;\naccount "x" {{ {ENDPOINTS} redirect_uri = "https://c.com"; }}'
    )
    assert msg.splitlines()[0] == (
        "Account x has an 'https' redirect but the HTTPS server is set to 'none'"
    )


def test_only_the_surviving_account_block_needs_a_listener() -> None:
    """A later block replaces an earlier one of the same name, and upstream checks listeners
    over the accounts that remain: the replaced block's https redirect is never used."""
    https = 'redirect_uri = "https://c.com";'
    text = f'https_listen = none;\naccount "x" {{ {ENDPOINTS} {https} }}\n{MINIMAL}'
    assert parse(text).accounts["x"].redirect_uri == "http://localhost/"
    # The other way round, the survivor is the one that needs the missing listener.
    text = f'https_listen = none;\n{MINIMAL}\naccount "x" {{ {ENDPOINTS} {https} }}'
    assert error_of(text).splitlines()[0] == (
        "Account x has an 'https' redirect but the HTTPS server is set to 'none'"
    )


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ('scopes = [, "a"];', ("a",)),
        ('scopes = [ , "a", "b"];', ("a", "b")),
        ('scopes = [,\n // a comment\n "a"];', ("a",)),
        ("scopes = [];", ()),
        ('auth_uri_fields = {, "k": "v"};', (("k", "v"),)),
        ('auth_uri_fields = { , "k": "v", "l": "w" };', (("k", "v"), ("l", "w"))),
    ],
)
def test_a_list_or_map_may_start_with_a_comma(value: str, parsed: tuple[object, ...]) -> None:
    """Upstream's grammar builds lists as ``<empty> , item , item``: one leading comma is part
    of the language, a trailing one is not."""
    account = parse(f'account "x" {{ {ENDPOINTS} {value} }}').accounts["x"]
    field = account.scopes if value.startswith("scopes") else account.auth_uri_fields
    assert field == parsed


@pytest.mark.parametrize(
    "value",
    [
        "scopes = [,];",
        'scopes = [, , "a"];',
        'scopes = ["a",];',
        'scopes = ["a" "b"];',
        "auth_uri_fields = {,};",
        'auth_uri_fields = {"k": "v",};',
    ],
)
def test_other_commas_are_syntax_errors(value: str) -> None:
    assert "Syntax error" in error_of(f'account "x" {{ {ENDPOINTS} {value} }}')


@pytest.mark.parametrize("field", ["auth_uri", "redirect_uri", "token_uri"])
@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("blah", "Invalid URI: relative URL without a base"),
        ("http://", "Invalid URI: empty host"),
        ("https://a.com:99999/", "Invalid URI: invalid port number"),
        ("https://a.com:x/", "Invalid URI: invalid port number"),
        ("http://[::1/", "Invalid URI: invalid IPv6 address"),
        # Upstream's URL library (2.5.8) reports a forbidden host character from its IDNA step.
        ("http://a b.com/", "Invalid URI: invalid international domain name"),
        # Each of these used to pass the check and then fail every `show` (issue 25).
        ("http://999.1.1.1/", "Invalid URI: invalid IPv4 address"),
        ("http://a%20b.com/", "Invalid URI: invalid international domain name"),
        ("http://[fe80::1%25eth0]/", "Invalid URI: invalid IPv6 address"),
        ("http://a.com/#a", "URI fragments ('#...') are not allowed"),
        ("http://a.com/#", "URI fragments ('#...') are not allowed"),
        ("ftp://a.com/", "not a valid HTTP or HTTPS URI"),
    ],
)
def test_invalid_uris(field: str, uri: str, message: str) -> None:
    fields = {"auth_uri": '"http://a.com"', "client_id": '"b"', "token_uri": '"http://f.com"'}
    fields[field] = f'"{uri}"'
    body = " ".join(f"{k} = {v};" for k, v in fields.items())
    msg = error_of(f'account "x" {{\n  {body}\n}}')
    col = f"  {body}".index(f'"{uri}"') + 1
    assert msg.startswith(f"Line 2, column {col}:\n  {body}\n")
    assert f"\n{message}\n" in msg + "\n"


@pytest.mark.parametrize(
    "uri",
    [
        "http://a.com",
        "HTTPS://A.COM/x?y=z",
        "http://[::1]:8080/",
        "http://user@h:1/",
        "http:a.com",  # WHATWG (and upstream) read it as http://a.com/
        "http://1.2.3/",  # an IPv4 address of three numbers: 1.2.0.3
    ],
)
def test_valid_uris(uri: str) -> None:
    assert parse(f'account "x" {{ {ENDPOINTS} redirect_uri = "{uri}"; }}')


@pytest.mark.parametrize(
    "uri",
    [
        "http://999.1.1.1/",
        "http://a%20b.com/",
        "http://[fe80::1%25eth0]/",
        "http://ex%ample.com/",
        "http://0x100000000/",
        "http:// /",
        "http://[::1]:99999/",
        "http://a.com:8080x/",
    ],
)
def test_every_uri_the_checker_accepts_builds_a_url(uri: str) -> None:
    """The checker and the code that later builds URLs from a URI agree on what is one: a
    URI that the checker let through used to make every `show` fail (issue 25)."""
    config = f'account "x" {{ {ENDPOINTS} redirect_uri = "{uri}"; }}'
    assert error_of(config).splitlines()[-1].startswith("Invalid URI: ")
    for ok in ("http://a.com/", "http:a.com", "http://[::1]/", "HTTP://A.com:80/x"):
        account = parse(f'account "x" {{ {ENDPOINTS} redirect_uri = "{ok}"; }}').accounts["x"]
        assert ":8080/" in with_port(account.redirect_uri, 8080)


def test_valid_https_config() -> None:
    c = parse(
        """
        https_listen = "127.0.0.1:56789";
        account "x" {
            auth_uri = "http://a.com";
            auth_uri_fields = {"l": "m", "n": "o", "l": "p"};
            client_id = "b";
            scopes = ["c", "d"];
            token_uri = "http://f.com";
            redirect_uri = "https://e.com";
        }
        """
    )
    assert c.https_listen == "127.0.0.1:56789"
    act = c.accounts["x"]
    assert act.redirect_uri == "https://e.com"
    # Port substitution (oauth.py) picks the HTTPS port for an https redirect.
    assert oauth.redirect_uri_with_port(act, 1234, 56789) == "https://e.com:56789/"
    assert oauth.redirect_uri_with_port(act, 1234, None) == "https://e.com:1234/"


MANDATORY = [
    ("auth_uri", '"http://a.com/"'),
    ("client_id", '"a"'),
    ("token_uri", '"http://b.com/"'),
]


@pytest.mark.parametrize("missing", range(len(MANDATORY)))
def test_mandatory_account_fields(missing: int) -> None:
    fields = [f for i, f in enumerate(MANDATORY) if i != missing]
    body = "\n".join(f"{k} = {v};" for k, v in fields)
    msg = error_of(f'account "a" {{ {body} }}')
    # Upstream points at the whole account block.
    assert msg.startswith('Line 1, column 1:\n  account "a" {')
    assert f"\n{MANDATORY[missing][0]} not specified" in msg


def test_all_mandatory_fields_missing_reported_in_upstream_order() -> None:
    msg = error_of('account "a" { }')
    assert [m.splitlines()[3] for m in msg.split("\n\n")] == [
        "auth_uri not specified",
        "client_id not specified",
        "token_uri not specified",
    ]


def test_local_overrides() -> None:
    account = (
        'account "{n}" {{ auth_uri = "http://a.com"; client_id = "b"; '
        'token_uri = "http://d.com"; {extra} }}\n'
    )
    globals_ = (
        'transient_error_if_cmd = "e";\n'
        "refresh_at_least = 1s;\nrefresh_before_expiry = 2s;\nrefresh_retry = 3s;\n"
    )
    local = "refresh_at_least = {}s; refresh_before_expiry = {}s; refresh_retry = {}s;"

    def times(c: Config, name: str) -> tuple[int, int, int]:
        a = c.accounts[name]
        return a.refresh_at_least, a.refresh_before_expiry, a.refresh_retry

    # Defaults only.
    c = parse(account.format(n="x", extra=""))
    assert c.transient_error_if_cmd is None
    assert times(c, "x") == (5400, 90, 40)
    # Global only.
    c = parse(globals_ + account.format(n="x", extra=""))
    assert c.transient_error_if_cmd == "e"
    assert (c.refresh_at_least, c.refresh_before_expiry, c.refresh_retry) == (1, 2, 3)
    assert times(c, "x") == (1, 2, 3)
    # Local only.
    c = parse(account.format(n="x", extra=local.format(1, 2, 3)))
    assert (c.refresh_at_least, c.refresh_before_expiry, c.refresh_retry) == (5400, 90, 40)
    assert times(c, "x") == (1, 2, 3)
    # Local overrides global, per account; others inherit.
    c = parse(
        globals_
        + account.format(n="x", extra=local.format(4, 5, 6))
        + account.format(n="y", extra=local.format(7, 8, 9))
        + account.format(n="z", extra="")
    )
    assert (times(c, "x"), times(c, "y"), times(c, "z")) == ((4, 5, 6), (7, 8, 9), (1, 2, 3))


def test_globals_after_accounts_still_apply() -> None:
    c = parse(f"{MINIMAL}\nrefresh_retry = 7s;\n")
    assert c.accounts["x"].refresh_retry == 7


def test_partial_local_override() -> None:
    c = parse(f'refresh_retry = 3s;\naccount "x" {{ {ENDPOINTS} refresh_at_least = 1h; }}')
    act = c.accounts["x"]
    assert (act.refresh_at_least, act.refresh_before_expiry, act.refresh_retry) == (3600, 90, 3)


def test_login_hint_clashes_with_field() -> None:
    msg = error_of(
        """account "x" {
            auth_uri = "http://a.com/";
            auth_uri_fields = { "login_hint": "e" };
            client_id = "b";
            token_uri = "https://c.com/";
            login_hint = "d";
          }"""
    )
    assert msg.startswith('Line 1, column 1:\n  account "x" {\n')
    assert (
        "\nBoth the 'login_hint' attribute and a 'auth_uri_fields' field with the name "
        "'login_hint' are specified. The 'login_hint' attribute is deprecated so remove it.\n"
    ) in msg


def test_login_hint_is_forwarded() -> None:
    c = parse(f'account "x" {{ {ENDPOINTS} login_hint = "me@example.com"; }}')
    assert c.accounts["x"].auth_uri_fields == (("login_hint", "me@example.com"),)
    assert "deprecated" in c.warnings[0]


@pytest.mark.parametrize("key", model.RESERVED_AUTH_URI_KEYS)
def test_reserved_auth_uri_fields_keys(key: str) -> None:
    text = f'account "x" {{\n  {ENDPOINTS}\n  auth_uri_fields = {{ "a": "b", "{key}": "e" }};\n}}'
    msg = error_of(text)
    col = f'  auth_uri_fields = {{ "a": "b", "{key}"'.index(f'"{key}"') + 1
    assert msg.startswith(f"Line 3, column {col}:\n")  # upstream points at the key
    assert f"\n'{key}' is a reserved key\n" in msg


def test_unreserved_keys_near_reserved_ones_are_fine() -> None:
    c = parse(f'account "x" {{ {ENDPOINTS} auth_uri_fields = {{"Scope": "a", "prompt": "b"}}; }}')
    assert c.accounts["x"].auth_uri_fields == (("Scope", "a"), ("prompt", "b"))


def test_endpoints_no_fragment() -> None:
    for field in ("auth_uri", "token_uri"):
        body = ENDPOINTS.replace(f'{field} = "', f'{field} = "').replace('.com"', '.com/#c"', 1)
        msg = error_of(f'account "x" {{ {body} }}')
        assert "URI fragments ('#...') are not allowed" in msg


def test_later_account_replaces_earlier() -> None:
    y = 'account "y" { auth_uri = "http://y"; client_id = "y"; token_uri = "http://y"; }'
    c = parse(f"{MINIMAL}\n{y}\n" + MINIMAL.replace('client_id = "b"', 'client_id = "c"'))
    assert c.accounts["x"].client_id == "c"
    assert list(c.accounts) == ["y", "x"]  # in the order the definitions in use appear
    assert "defined more than once" in c.warnings[0]


def test_account_names_are_any_string() -> None:
    names = ["my account", "", "ünïcödé", 'quote"d', "line\nbreak", "semi;colon{}"]
    text = "\n".join(
        f'account "{n.replace(chr(34), chr(92) + chr(34))}" {{ {ENDPOINTS} }}' for n in names
    )
    assert list(parse(text).accounts) == names


def test_accounts_keep_file_order() -> None:
    names = [f"acct{i}" for i in (3, 1, 2, 10)]
    text = "\n".join(f'account "{n}" {{ {ENDPOINTS} }}' for n in names)
    assert list(parse(text).accounts) == names


def test_empty_lists_and_maps() -> None:
    c = parse(f'account "x" {{ {ENDPOINTS} scopes = []; auth_uri_fields = {{}}; }}')
    assert (c.accounts["x"].scopes, c.accounts["x"].auth_uri_fields) == ((), ())


def test_compact_layout_comments_and_line_endings() -> None:
    compact = 'http_listen=none;account"x"{auth_uri="http://a";client_id="b";token_uri="http://c";redirect_uri="https://l/";}'
    assert parse(compact).accounts["x"].token_uri == "http://c"
    spread = """
    // leading comment
    account // name next
      "x" // brace next
    { auth_uri // equals next
      = // value next
      "http://a" // semicolon next
      ; client_id = "b"; token_uri = "http://c";
      scopes = [ // first
        "s1", // second
        "s2" // end
      ];
      auth_uri_fields = { "k" // colon
        : "v" };
    } // trailing comment without a newline"""
    for text in (spread, spread.replace("\n", "\r\n"), spread.replace("    ", "\t")):
        act = parse(text).accounts["x"]
        assert act.scopes == ("s1", "s2")
        assert act.auth_uri_fields == (("k", "v"),)


def test_block_comments_and_hash_comments_do_not_exist() -> None:
    assert "Syntax error" in error_of(f"/* no */\n{MINIMAL}")
    assert "Syntax error" in error_of(f"# no\n{MINIMAL}")


def test_desktop_notifications_is_a_pizauth_dbus_addition() -> None:
    acct = 'account "a" { auth_uri = "http://x/a"; token_uri = "http://x/t"; client_id = "c"; }\n'
    assert parse(acct).desktop_notifications is True
    assert parse("desktop_notifications = false;\n" + acct).desktop_notifications is False
    assert parse("desktop_notifications = true;\n" + acct).desktop_notifications is True
    for bad, says in (
        ('"no"', "must be true or false, not a string"),
        ("off", "must be true or false, not the bare word off"),
        ("1s", "must be true or false, not the time 1s"),
    ):
        with pytest.raises(ConfigError) as e:
            parse(f"desktop_notifications = {bad};\n" + acct)
        assert "Line 1, column 25:" in str(e.value) and says in str(e.value)
    with pytest.raises(ConfigError, match="'desktop_notifications' is a global option"):
        parse('account "a" { desktop_notifications = false; }')


def test_allowed_apps_is_a_pizauth_dbus_addition() -> None:
    assert parse(MINIMAL).allowed_apps == ()
    text = 'allowed_apps = ["org.mozilla.Thunderbird", "thunderbird"];\n' + MINIMAL
    assert parse(text).allowed_apps == ("org.mozilla.Thunderbird", "thunderbird")
    assert parse("allowed_apps = [];\n" + MINIMAL).allowed_apps == ()
    with pytest.raises(ConfigError) as e:
        parse('allowed_apps = ["org.example.Ok",\n  "org.*", ""];\n' + MINIMAL)
    assert str(e.value) == (
        "Line 2, column 3:\n"
        '  "org.*", ""];\n'
        "  ^\n"
        "'org.*' is not an app id\n"
        'hint: give a Flatpak app id such as "org.mozilla.Thunderbird", or a snap\'s name\n'
        "\n"
        "Line 2, column 12:\n"
        '  "org.*", ""];\n'
        "           ^\n"
        "'' is not an app id\n"
        'hint: give a Flatpak app id such as "org.mozilla.Thunderbird", or a snap\'s name'
    )
    for bad, says in (
        ('"org.mozilla.Thunderbird"', "must be a list of strings"),
        ("none", "must be a list of strings"),
    ):
        with pytest.raises(ConfigError) as e:
            parse(f"allowed_apps = {bad};\n" + MINIMAL)
        assert "Line 1, column 16:" in str(e.value) and says in str(e.value), str(e.value)
    with pytest.raises(ConfigError, match="'allowed_apps' is a global option"):
        parse(f'account "a" {{ {ENDPOINTS} allowed_apps = []; }}')
    with pytest.raises(ConfigError, match="Mustn't specify 'allowed_apps' more than once"):
        parse("allowed_apps = [];\nallowed_apps = [];\n" + MINIMAL)
