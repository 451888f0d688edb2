"""Validation of a parsed pizauth.conf: every check on every option, with upstream's messages
where upstream has the check, collecting all sound diagnostics rather than stopping at the first.

The options are listed in :mod:`pizauth_dbus.config.options`; the result is
:mod:`pizauth_dbus.config.model`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar, cast

from pizauth_dbus import urls
from pizauth_dbus.config import lexicon, scanner
from pizauth_dbus.config.diagnostics import Diagnostic, line_col
from pizauth_dbus.config.lexicon import TIME_MAX
from pizauth_dbus.config.model import (
    LISTEN_DEFAULT,
    REDIRECT_URI_DEFAULT,
    REFRESH_AT_LEAST_DEFAULT,
    REFRESH_BEFORE_EXPIRY_DEFAULT,
    REFRESH_RETRY_DEFAULT,
    RESERVED_AUTH_URI_KEYS,
    Account,
    Config,
)
from pizauth_dbus.config.options import (
    ACCOUNT_OPTIONS,
    APP_ID,
    BOOL,
    CHOICES,
    GLOBAL_OPTIONS,
    LIST,
    LISTEN,
    LOGIN_HINT_CLASH,
    MANDATORY_ACCOUNT_OPTIONS,
    MAP,
    MISPLACED,
    OPTIONAL_WITH,
    REMOVED_OPTIONS,
    STR,
    TIME,
    URI,
    closest,
    uri_problem,
    wrong_kind,
)
from pizauth_dbus.config.scanner import AccountBlock, Setting

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
        # The option tables guarantee each key's value type; see Checker.value.
        return cast(T, self.values.get(key, default))


class Checker:
    """Checks parsed nodes against the option tables, collecting every sound diagnostic."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.errors: list[Diagnostic] = []
        self.warnings: list[str] = []

    def error(self, message: str, pos: int | None, *hints: str, prefixed: bool = True) -> None:
        self.errors.append(Diagnostic(message, pos, prefixed, hints))

    def line(self, pos: int) -> int:
        return line_col(self.text, pos)[0]

    def run(self, nodes: Sequence[scanner.Node], *, whole_file: bool = True) -> Config | None:
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
                if account.device_auth_uri is None:  # a device code needs no redirect
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
            if key not in scope.seen and OPTIONAL_WITH.get(key) not in scope.seen:
                hints = []
                if typo := scope.suggested.get(key):
                    line = self.line(typo.key_pos)
                    hints.append(f"'{typo.key}' on line {line} may be meant as '{key}'")
                self.error(f"{key} not specified", block.pos, *hints)
        fields: tuple[tuple[str, str], ...] = scope.get("auth_uri_fields", ())
        if "login_hint" in scope.seen and any(k == "login_hint" for k, _ in fields):
            line = self.line(scope.seen["login_hint"].key_pos)
            self.error(LOGIN_HINT_CLASH, block.pos, f"remove the login_hint line (line {line})")
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
            device_auth_uri=scope.get("device_auth_uri", None),
        )

    def check_listener(
        self, account: Account, block: AccountBlock, scope: _Scope, top: _Scope
    ) -> None:
        """An https redirect needs the HTTPS listener, an http one the HTTP listener."""
        # Upstream tests the raw text's prefix; the parsed scheme agrees for lower-case URIs
        # and is also right for "HTTPS://...", which upstream lets through unchecked.
        scheme = urls.scheme(account.redirect_uri)
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
            message, hint = MISPLACED[in_account]
            self.error(message.format(s.key), s.key_pos, hint)
            return
        hints = []
        if guess := closest(s.key, scope.options):
            hints.append(f"did you mean '{guess}'?")
            scope.suggested.setdefault(guess, s)
        elif guess := closest(s.key, other):
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
            choices = CHOICES.get(s.key)
            if choices is None or s.text in choices:
                return s.text
            words = " or ".join(f'"{c}"' for c in choices)
            self.error(f"'{s.key}' must be {words}, not \"{s.text}\"", s.pos)
            return _INVALID
        if kind == URI and s.kind == "string":
            problem = uri_problem(s.text)
            if problem is None:
                return s.text
            self.error(problem[0], s.pos, *problem[1:])
            return _INVALID
        if kind == LIST and s.kind == "list":
            if s.key == "allowed_apps":
                return self.app_ids(s)
            return s.items
        if kind == MAP and s.kind == "map":
            reserved = False
            for (key, _), pos in zip(s.pairs, s.item_pos, strict=True):
                if key in RESERVED_AUTH_URI_KEYS:
                    self.error(f"'{key}' is a reserved key", pos, f"pizauth sets '{key}' itself")
                    reserved = True
            return _INVALID if reserved else s.pairs
        message, *hints = wrong_kind(s, kind)
        self.error(message, s.pos, *hints)
        return _INVALID

    def app_ids(self, s: Setting) -> tuple[str, ...] | _Invalid:
        """``allowed_apps``: each item a Flatpak app id or a snap's name."""
        bad = False
        for item, pos in zip(s.items, s.item_pos, strict=True):
            if not APP_ID.fullmatch(item):
                self.error(
                    f"'{item}' is not an app id",
                    pos,
                    'give a Flatpak app id such as "org.mozilla.Thunderbird", or a snap\'s name',
                )
                bad = True
        return _INVALID if bad else s.items

    def time(self, s: Setting) -> int | _Invalid:
        value = lexicon.seconds(s.text)
        if isinstance(value, int):
            return value
        if value:  # a well-formed time too large for upstream's 64 bits: no position there
            self.error(value, s.pos, f"the longest time is {TIME_MAX}s", prefixed=False)
        else:
            self.error(f"Invalid time '{s.text}'", s.pos, *lexicon.time_hints(s.text))
        return _INVALID


class _Invalid:
    """Marks a value already reported as an error (``None`` is a valid listener value)."""


_INVALID = _Invalid()
