"""The pizauth.conf language: what each option means, every check on it, and the typed result.

This module owns the data model the rest of the program reads (:class:`Config`, :class:`Account`,
the ``*_DEFAULT`` constants) and the validation of a parsed file, with upstream's messages where
upstream has the check. The grammar and the rendering of positioned messages live in
:mod:`pizauth_dbus.grammar`; pyparsing is imported only when :func:`parse` first runs, so the
CLI may import this module cheaply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar, cast
from urllib.parse import urlsplit

from pizauth_dbus import grammar
from pizauth_dbus.errors import ConfigError
from pizauth_dbus.grammar import TIME_MAX, AccountBlock, Diagnostic, Setting

AUTH_NOTIFY_INTERVAL_DEFAULT = 15 * 60
"""Seconds between repeated reminders for the same pending account (upstream default)."""
REFRESH_AT_LEAST_DEFAULT = 90 * 60
"""Refresh a token at the latest this many seconds after it was obtained (upstream default)."""
REFRESH_BEFORE_EXPIRY_DEFAULT = 90
"""Refresh this many seconds before expiry (upstream default)."""
REFRESH_RETRY_DEFAULT = 40
"""Seconds between retries after a transient refresh error (upstream default)."""
LISTEN_DEFAULT = "127.0.0.1:0"
"""Both redirect listeners bind a random loopback port unless told otherwise."""
REDIRECT_URI_DEFAULT = "http://localhost/"

RESERVED_AUTH_URI_KEYS = (
    "access_type",
    "client_id",
    "code_challenge",
    "code_challenge_method",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
)


@dataclass(frozen=True)
class Account:
    """One ``account "name" { ... }`` block with every default and inherited value resolved."""

    name: str
    auth_uri: str
    token_uri: str
    client_id: str
    client_secret: str | None = None
    scopes: tuple[str, ...] = ()
    # Ordered, duplicates kept; a deprecated ``login_hint`` is appended as ("login_hint", v).
    auth_uri_fields: tuple[tuple[str, str], ...] = ()
    redirect_uri: str = REDIRECT_URI_DEFAULT
    refresh_at_least: int = REFRESH_AT_LEAST_DEFAULT
    refresh_before_expiry: int = REFRESH_BEFORE_EXPIRY_DEFAULT
    refresh_retry: int = REFRESH_RETRY_DEFAULT

    def security_fields(self) -> tuple[object, ...]:
        """The seven fields whose change invalidates a token (reload, restore)."""
        return (
            self.auth_uri,
            self.auth_uri_fields,
            self.client_id,
            self.client_secret,
            self.redirect_uri,
            self.scopes,
            self.token_uri,
        )


@dataclass(frozen=True)
class Config:
    """A whole, validated pizauth.conf. Times are whole seconds.

    ``accounts`` is in file order and must be treated as read-only. The three ``refresh_*``
    fields are the global values (already applied to every account that does not set its own).
    ``warnings`` are printable notes about deprecated but accepted constructs.
    """

    accounts: Mapping[str, Account] = field(default_factory=dict)
    auth_notify_cmd: str | None = None
    auth_notify_interval: int = AUTH_NOTIFY_INTERVAL_DEFAULT
    desktop_notifications: bool = True  # pizauth-dbus addition: native notifications on/off
    error_notify_cmd: str | None = None
    http_listen: str | None = LISTEN_DEFAULT  # None: `http_listen = none;`
    https_listen: str | None = LISTEN_DEFAULT  # None: `https_listen = none;`
    startup_cmd: str | None = None
    token_event_cmd: str | None = None
    transient_error_if_cmd: str | None = None
    refresh_at_least: int = REFRESH_AT_LEAST_DEFAULT
    refresh_before_expiry: int = REFRESH_BEFORE_EXPIRY_DEFAULT
    refresh_retry: int = REFRESH_RETRY_DEFAULT
    warnings: tuple[str, ...] = field(default=(), compare=False)


class ConfigParseError(ConfigError):
    """A configuration text with one or more problems; ``str()`` shows all of them."""

    def __init__(self, text: str, diagnostics: Sequence[Diagnostic] = ()) -> None:
        # Without diagnostics ``text`` is the message itself, as when unpickling.
        rendered = "\n\n".join(d.render(text) for d in diagnostics)
        super().__init__(rendered if diagnostics else text)
        self.diagnostics = tuple(diagnostics)


def parse(text: str) -> Config:
    """Parse and validate a whole config file's text.

    :raises ConfigError: with the complete, printable message (line, column, source, caret).
    """
    nodes, syntax_errors = grammar.parse_document(text)
    checker = _Checker(text)
    # After a syntax error only the items read before it are checked, one by one: checks that
    # need the whole file ("at least one account", listeners) would be guesses.
    config = checker.run(nodes, whole_file=not syntax_errors)
    if checker.errors or syntax_errors or config is None:
        raise ConfigParseError(text, [*checker.errors, *syntax_errors])
    return config


def load(path: str) -> Config:
    """Read and parse the config at ``path`` (already resolved by :mod:`pizauth_dbus.paths`)."""
    from pizauth_dbus.paths import read_config_text

    return parse(read_config_text(path))


# ==== Options ====
# Value types: what each option accepts, and how to say so in a message.
STR, TIME, LISTEN, URI, LIST, MAP = "string", "time", "listen", "uri", "list", "map"
BOOL = "bool"  # only pizauth-dbus's own additions use it; upstream's language has no booleans
_EXPECTED = {
    STR: "a double-quoted string",
    TIME: "a time such as 90s, 5m, 1h or 2d",
    LISTEN: 'none or a double-quoted "address:port"',
    URI: "a double-quoted http or https URI",
    LIST: 'a list of strings such as ["a", "b"]',
    MAP: 'a map of strings such as { "key": "value" }',
    BOOL: "true or false",
}
GLOBAL_OPTIONS = {
    "auth_notify_cmd": STR,
    "auth_notify_interval": TIME,
    "desktop_notifications": BOOL,
    "error_notify_cmd": STR,
    "http_listen": LISTEN,
    "https_listen": LISTEN,
    "refresh_at_least": TIME,
    "refresh_before_expiry": TIME,
    "refresh_retry": TIME,
    "startup_cmd": STR,
    "token_event_cmd": STR,
    "transient_error_if_cmd": STR,
}
ACCOUNT_OPTIONS = {
    "auth_uri": URI,
    "auth_uri_fields": MAP,
    "client_id": STR,
    "client_secret": STR,
    "login_hint": STR,
    "redirect_uri": URI,
    "refresh_at_least": TIME,
    "refresh_before_expiry": TIME,
    "refresh_retry": TIME,
    "scopes": LIST,
    "token_uri": URI,
}
MANDATORY_ACCOUNT_OPTIONS = ("auth_uri", "client_id", "token_uri")  # upstream's reporting order
REMOVED_OPTIONS = {
    "auth_error_cmd": (
        "'auth_error_cmd' has been renamed to 'error_notify_cmd'",
        "rename it to 'error_notify_cmd': the command is run the same way",
    ),
    "not_transient_error_if": (
        "'not_transient_error_if' was removed in pizauth 0.3.0",
        "use the global option 'transient_error_if_cmd' instead; mind its opposite sense: "
        "it exits with 0 when the errors really are transient",
    ),
    "refresh_retry_interval": (
        "'refresh_retry_interval' was replaced by 'refresh_retry' in pizauth 0.2.0",
        "rename it to 'refresh_retry', which can be set globally or in an account",
    ),
}
_LOGIN_HINT_CLASH = (
    "Both the 'login_hint' attribute and a 'auth_uri_fields' field with the name 'login_hint' "
    "are specified. The 'login_hint' attribute is deprecated so remove it."
)
_MISPLACED = {  # indexed by "is it inside an account?"
    True: (
        "'{}' is a global option: it can't be set inside an account",
        "move it to the top level of the file, outside every account block",
    ),
    False: (
        "'{}' is an account option: it must be inside an account block",
        'move it into an account "name" { ... } block',
    ),
}
_OFF_WORDS = ("off", "false", "no", "disabled", "disable", "null", "nil")

Value = str | int | None | tuple[str, ...] | tuple[tuple[str, str], ...]
T = TypeVar("T")


@dataclass
class _Scope:
    """The options of one block (the top level, or an account) as they are read."""

    options: dict[str, str]
    seen: dict[str, Setting] = field(default_factory=dict)
    values: dict[str, Value] = field(default_factory=dict)  # only options with valid values
    # Misspelt options whose suggestion is a mandatory one: "not specified" then says so.
    suggested: dict[str, Setting] = field(default_factory=dict)
    ok: bool = True

    def get(self, key: str, default: T) -> T:
        # The option tables guarantee each key's value type; see _Checker.value.
        return cast(T, self.values.get(key, default))


class _Checker:
    """Checks parsed nodes against the option tables, collecting every sound diagnostic."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.errors: list[Diagnostic] = []
        self.warnings: list[str] = []

    def error(self, message: str, pos: int | None, *hints: str, prefixed: bool = True) -> None:
        self.errors.append(Diagnostic(message, pos, prefixed, hints))

    def line(self, pos: int) -> int:
        return grammar.line_col(self.text, pos)[0]

    def run(self, nodes: Sequence[grammar.Node], *, whole_file: bool = True) -> Config | None:
        top = _Scope(GLOBAL_OPTIONS)
        blocks: list[tuple[AccountBlock, _Scope]] = []
        for node in nodes:  # in file order, so the first error is the one upstream reports
            if isinstance(node, Setting):
                self.setting(top, node, in_account=False)
            else:
                blocks.append((node, self.account(node)))
        if not whole_file:
            return None
        http: str | None = top.get("http_listen", LISTEN_DEFAULT)
        https: str | None = top.get("https_listen", LISTEN_DEFAULT)
        if http is None and https is None:
            self.error(
                "Cannot set both http_listen and https_listen to 'none'",
                max(top.seen["http_listen"].pos, top.seen["https_listen"].pos),
                "at least one listener is needed to receive authorisation redirects",
                prefixed=False,
            )
        if not blocks:
            self.error(
                "Must specify at least one account",
                None,
                'add a block such as: account "name" { auth_uri = "https://..."; '
                'token_uri = "https://..."; client_id = "..."; }',
            )
        accounts: dict[str, Account] = {}
        survivors: dict[str, tuple[AccountBlock, _Scope]] = {}
        for block, scope in blocks:
            if block.name in survivors:
                self.warnings.append(
                    f"Line {self.line(block.pos)}: account {block.name} is defined more than "
                    "once: this later definition replaces the earlier one"
                )
            survivors[block.name] = (block, scope)
            account = self.build(block, scope, top) if scope.ok else None
            accounts.pop(block.name, None)
            if account is not None:
                accounts[block.name] = account
        # Only the blocks that survive need a listener, as upstream checks them (a replaced
        # block's redirect is never used). When both listeners are off, that error already
        # covers every account.
        if http is not None or https is not None:
            for name, account in accounts.items():
                self.check_listener(account, *survivors[name], top)
        if self.errors:
            return None
        # Global option names are Config's field names, and each value already has its field's
        # type (see value()); options left out keep the field's default.
        return Config(accounts=accounts, warnings=tuple(self.warnings), **top.values)  # type: ignore[arg-type]

    def account(self, block: AccountBlock) -> _Scope:
        scope = _Scope(ACCOUNT_OPTIONS)
        before = len(self.errors)
        for s in block.settings:
            self.setting(scope, s, in_account=True)
        for key in MANDATORY_ACCOUNT_OPTIONS:
            if key not in scope.seen:
                hints = []
                if typo := scope.suggested.get(key):
                    line = self.line(typo.key_pos)
                    hints.append(f"'{typo.key}' on line {line} may be meant as '{key}'")
                self.error(f"{key} not specified", block.pos, *hints)
        fields: tuple[tuple[str, str], ...] = scope.get("auth_uri_fields", ())
        if "login_hint" in scope.seen and any(k == "login_hint" for k, _ in fields):
            line = self.line(scope.seen["login_hint"].key_pos)
            self.error(_LOGIN_HINT_CLASH, block.pos, f"remove the login_hint line (line {line})")
        scope.ok = len(self.errors) == before
        return scope

    def build(self, block: AccountBlock, scope: _Scope, top: _Scope) -> Account:
        """The account with its defaults and inherited values filled in."""
        fields: tuple[tuple[str, str], ...] = scope.get("auth_uri_fields", ())
        login_hint: str | None = scope.get("login_hint", None)
        if login_hint is not None:
            # Upstream reads login_hint and then drops it; we send it, as its docs promise.
            fields = (*fields, ("login_hint", login_hint))
            self.warnings.append(
                f"Line {self.line(scope.seen['login_hint'].key_pos)}: 'login_hint' is "
                f'deprecated: write auth_uri_fields = {{ "login_hint": "..." }}; instead'
            )

        def inherit(key: str, default: int) -> int:
            return scope.get(key, top.get(key, default))

        return Account(
            name=block.name,
            auth_uri=scope.get("auth_uri", ""),
            token_uri=scope.get("token_uri", ""),
            client_id=scope.get("client_id", ""),
            client_secret=scope.get("client_secret", None),
            scopes=scope.get("scopes", ()),
            auth_uri_fields=fields,
            redirect_uri=scope.get("redirect_uri", REDIRECT_URI_DEFAULT),
            refresh_at_least=inherit("refresh_at_least", REFRESH_AT_LEAST_DEFAULT),
            refresh_before_expiry=inherit("refresh_before_expiry", REFRESH_BEFORE_EXPIRY_DEFAULT),
            refresh_retry=inherit("refresh_retry", REFRESH_RETRY_DEFAULT),
        )

    def check_listener(
        self, account: Account, block: AccountBlock, scope: _Scope, top: _Scope
    ) -> None:
        """An https redirect needs the HTTPS listener, an http one the HTTP listener."""
        # Upstream tests the raw text's prefix; the parsed scheme agrees for lower-case URIs
        # and is also right for "HTTPS://...", which upstream lets through unchecked.
        scheme = urlsplit(account.redirect_uri).scheme
        option = f"{scheme}_listen"
        if top.get(option, LISTEN_DEFAULT) is not None:
            return
        redirect = scope.seen.get("redirect_uri")
        hints = [] if redirect else [f"its redirect_uri is the default, {REDIRECT_URI_DEFAULT}"]
        other = "an http" if scheme == "https" else "an https"
        hints.append(
            f"'{option}' is set to none on line {self.line(top.seen[option].pos)}: "
            f"enable that listener or give the account {other} redirect_uri"
        )
        self.error(
            f"Account {account.name} has an '{scheme}' redirect but the "
            f"{scheme.upper()} server is set to 'none'",
            redirect.pos if redirect else block.pos,
            *hints,
            prefixed=False,
        )

    # ---- One setting ----

    def setting(self, scope: _Scope, s: Setting, *, in_account: bool) -> None:
        if s.key in REMOVED_OPTIONS:
            message, hint = REMOVED_OPTIONS[s.key]
            self.error(message, s.key_pos, hint)
            return
        kind = scope.options.get(s.key)
        if kind is None:
            self.unknown(scope, s, in_account)
            return
        first = scope.seen.get(s.key)
        if first is not None:
            # Upstream points at the value, except for the two options with compound values.
            self.error(
                f"Mustn't specify '{s.key}' more than once",
                s.key_pos if kind in (LIST, MAP) else s.pos,
                f"'{s.key}' is first set on line {self.line(first.key_pos)}",
            )
            return
        scope.seen[s.key] = s
        value = self.value(s, kind)
        if not isinstance(value, _Invalid):
            scope.values[s.key] = value

    def unknown(self, scope: _Scope, s: Setting, in_account: bool) -> None:
        other = GLOBAL_OPTIONS if in_account else ACCOUNT_OPTIONS
        if s.key in other:
            message, hint = _MISPLACED[in_account]
            self.error(message.format(s.key), s.key_pos, hint)
            return
        hints = []
        if guess := _closest(s.key, scope.options):
            hints.append(f"did you mean '{guess}'?")
            scope.suggested.setdefault(guess, s)
        elif guess := _closest(s.key, other):
            where = "at the top level" if in_account else "inside an account block"
            hints.append(f"did you mean '{guess}'? (it is set {where})")
        self.error(f"Unknown option '{s.key}'", s.key_pos, *hints)

    def value(self, s: Setting, kind: str) -> Value | _Invalid:
        """The typed value of ``s`` if it has the right shape for ``kind``; else report it."""
        if kind == TIME and s.kind == "bare":
            return self.time(s)
        if kind == LISTEN and s.kind == "bare" and s.text == "none":
            return None
        if kind == BOOL and s.kind == "bare" and s.text in ("true", "false"):
            return s.text == "true"
        if kind in (STR, LISTEN) and s.kind == "string":
            return s.text
        if kind == URI and s.kind == "string":
            problem = uri_problem(s.text)
            if problem is None:
                return s.text
            self.error(problem[0], s.pos, *problem[1:])
            return _INVALID
        if kind == LIST and s.kind == "list":
            return s.items
        if kind == MAP and s.kind == "map":
            reserved = False
            for (key, _), pos in zip(s.pairs, s.item_pos, strict=True):
                if key in RESERVED_AUTH_URI_KEYS:
                    self.error(f"'{key}' is a reserved key", pos, f"pizauth sets '{key}' itself")
                    reserved = True
            return _INVALID if reserved else s.pairs
        self.wrong_kind(s, kind)
        return _INVALID

    def wrong_kind(self, s: Setting, kind: str) -> None:
        found = {"string": "a string", "list": "a list", "map": "a map"}.get(s.kind)
        if found is None:
            is_time = grammar.TIME.fullmatch(s.text)
            found = "none" if s.text == "none" else f"the bare word {s.text}"
            found = f"the time {s.text}" if is_time else found
        hints = []
        if s.kind == "bare" and s.text == "none":
            hints.append("only http_listen and https_listen accept none; leave an option out "
                         "to leave it unset")  # fmt: skip
        elif kind == LISTEN and s.text.lower() in _OFF_WORDS:
            hints.append(f"to turn the listener off, write: {s.key} = none;")
        elif s.kind == "bare" and kind in (STR, LISTEN, URI):
            hints.append(f'strings are double-quoted: "{s.text}"')
        elif s.kind == "string" and kind == TIME and grammar.TIME.fullmatch(s.text):
            hints.append(f"times are not quoted: write {s.key} = {s.text};")
        elif s.kind == "string" and kind == LIST:
            hints.append(f'put the list in brackets: {s.key} = ["{s.text}"];')
        self.error(f"'{s.key}' must be {_EXPECTED[kind]}, not {found}", s.pos, *hints)

    def time(self, s: Setting) -> int | _Invalid:
        value = grammar.seconds(s.text)
        if isinstance(value, int):
            return value
        if value:  # a well-formed time too large for upstream's 64 bits: no position there
            self.error(value, s.pos, f"the longest time is {TIME_MAX}s", prefixed=False)
        else:
            self.error(f"Invalid time '{s.text}'", s.pos, *grammar.time_hints(s.text))
        return _INVALID


class _Invalid:
    """Marks a value already reported as an error (``None`` is a valid listener value)."""


_INVALID = _Invalid()


def uri_problem(uri: str) -> tuple[str, ...] | None:
    """Why ``uri`` can't be an auth_uri, token_uri or redirect_uri: (message, *hints).

    Upstream's order: the URI must parse, then have no fragment, then be http or https. The
    ``Invalid URI:`` reasons use the wording of the URL library upstream uses.
    """
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 -- evaluated for the ValueError a bad port raises
    except ValueError as e:
        why = str(e).lower()
        reason = "invalid port number" if "port" in why else "invalid IPv6 address"
        reason = reason if "port" in why or "ipv6" in why else "invalid domain character"
        return (f"Invalid URI: {reason}",)
    if not parts.scheme:
        return ("Invalid URI: relative URL without a base", 'write a full URI: "https://..."')
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            return ("Invalid URI: empty host",)
        if not parts.netloc.startswith("[") and re.search(
            r'[\x00-\x20<>^|\\"\x7f]', parts.hostname
        ):
            return ("Invalid URI: invalid domain character",)
    if "#" in uri:
        return ("URI fragments ('#...') are not allowed", "remove the '#' and what follows it")
    if parts.scheme not in ("http", "https"):
        return ("not a valid HTTP or HTTPS URI", "only http:// and https:// URIs can be used")
    return None


def _closest(word: str, options: Mapping[str, str]) -> str | None:
    import difflib  # only on this error path: keep importing this module cheap

    if word.lower() in options:
        return word.lower()
    found = difflib.get_close_matches(word.lower(), list(options), n=1, cutoff=0.6)
    return found[0] if found else None
