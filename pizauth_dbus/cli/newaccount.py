"""``pizauth-dbus new-account``: the assistant that writes an account block right the first
time, asking for what it is not given (or, with ``--yes``, taking everything as options, for
dotfiles and scripts).

It asks for the provider, the mail address, the protocols, the person's own client ID and
secret and the flow; builds the block (:mod:`pizauth_dbus.cli.accountblock`), from the
provider data or, for any other provider, from its metadata
(:mod:`pizauth_dbus.cli.discovery`); says what to register; writes the file safely
(:mod:`pizauth_dbus.cli.configfile`); reloads a running server; can go on to the sign-in; and
prints snippets for msmtp, mbsync and neomutt. Exit codes: 0 done, 1 anything else.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import NoReturn

from pizauth_dbus.cli.accountblock import (
    DEFAULT_PROTOCOLS,
    PROTOCOLS,
    Answers,
    Plan,
    PlanError,
    plan_known,
    plan_oidc,
)
from pizauth_dbus.cli.configfile import ConfigWriteError, read, with_account, write

USAGE = (
    "Usage: {pn} new-account [-c <config-path>] [--name NAME] "
    "[--provider microsoft|google|fastmail|yahoo|aol|oidc] [--email ADDRESS] [--client-id ID] "
    "[--client-secret SECRET] [--tenant common|consumers|organizations|TENANT-ID] "
    "[--issuer URL] [--scopes S1,S2] [--protocols imap,smtp,pop] [--device] [--replace] "
    "[--sign-in] [--yes]\n"
)
PROVIDERS = ("microsoft", "google", "fastmail", "yahoo", "aol", "oidc")
MENU = [
    (
        "Microsoft: a personal account (outlook.com, hotmail.com, live.com)",
        "microsoft",
        "consumers",
    ),
    ("Microsoft: a work or school account (Microsoft 365)", "microsoft", "organizations"),
    ("Microsoft: one given organisation (its tenant ID)", "microsoft", None),
    ("Google (Gmail, Google Workspace)", "google", None),
    ("Fastmail", "fastmail", None),
    ("Yahoo Mail", "yahoo", None),
    ("AOL Mail", "aol", None),
    ("Any other provider, by its issuer URL (OpenID Connect or RFC 8414)", "oidc", None),
]
SIGN_IN_WAIT = 300
"""Seconds the assistant waits for the person to finish signing in."""


class Abort(Exception):
    """The person's answers end the assistant; the message says why."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise Abort(message)


def _parser() -> _Parser:
    p = _Parser(add_help=False, allow_abbrev=False)
    p.add_argument("-c", "--config", dest="config")
    for opt in ("name", "provider", "email", "client-id", "client-secret", "tenant", "issuer"):
        p.add_argument(f"--{opt}")
    p.add_argument("--scopes")
    p.add_argument("--protocols")
    for flag in ("device", "replace", "sign-in", "yes"):
        p.add_argument(f"--{flag}", action="store_true")
    p.add_argument("-h", "--help", action="store_true")
    return p


def _split(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(dict.fromkeys(w for w in text.replace(",", " ").split() if w))


def _protocols(text: str | None) -> tuple[str, ...] | None:
    got = _split(text)
    if got is None:
        return None
    bad = [p for p in got if p not in PROTOCOLS]
    if bad or not got:
        raise Abort(f"Unknown protocol {', '.join(bad) or '(none)'}: give imap, smtp or pop")
    return got


class Prompter:
    """Asks the person, on the terminal (or whatever standard input is)."""

    def ask(self, question: str, default: str | None = None) -> str:
        shown = f"{question} [{default}]: " if default else f"{question}: "
        while True:
            try:
                answer = input(shown).strip()
            except EOFError:
                raise Abort("No answer (end of input)") from None
            if answer or default is not None:
                return answer or (default or "")
            print("An answer is needed.")

    def secret(self, question: str) -> str:
        if sys.stdin.isatty():
            return getpass.getpass(f"{question}: ").strip()
        return self.ask(question, "")

    def yes(self, question: str, default: bool = True) -> bool:
        answer = self.ask(f"{question} ({'Y/n' if default else 'y/N'})", "")
        return default if not answer else answer.lower().startswith("y")

    def choose(self, question: str, options: list[str], default: int = 1) -> int:
        for i, text in enumerate(options, 1):
            print(f"  {i}. {text}")
        while True:
            answer = self.ask(question, str(default))
            if answer.isdigit() and 1 <= int(answer) <= len(options):
                return int(answer) - 1
            print(f"Give a number from 1 to {len(options)}.")


def _complete(a: Answers, ask: Prompter | None) -> None:
    """Fill in what is missing, asking when ``ask`` is given; else refuse with the list."""
    from pizauth_dbus.config.providers import load

    data = load()
    if a.provider is not None and a.provider not in PROVIDERS:
        raise Abort(f"Unknown provider '{a.provider}': give one of {', '.join(PROVIDERS)}")
    missing = [
        opt
        for opt, value in (
            ("--provider", a.provider),
            ("--email", a.email),
            ("--client-id", a.client_id),
            ("--name", a.name),
        )
        if value is None
    ]
    if a.provider == "oidc" and a.issuer is None:
        missing.append("--issuer")
    if ask is None:
        if missing:
            raise Abort("Missing " + ", ".join(missing) + " (without --yes, the assistant asks)")
    else:
        if a.provider is None:
            i = ask.choose("Provider", [m[0] for m in MENU])
            a.provider, tenant = MENU[i][1], MENU[i][2]
            if a.provider == "microsoft" and a.tenant is None:
                a.tenant = tenant or ask.ask("Tenant (directory) ID or domain")
        if a.provider == "oidc" and a.issuer is None:
            a.issuer = ask.ask("Issuer URL (e.g. https://login.example.com)")
        if a.email is None:
            a.email = ask.ask("Mail address")
        if a.name is None:
            a.name = ask.ask("Account name for pizauth", a.email.split("@", 1)[-1].split(".")[0])
        if a.protocols is None:
            a.protocols = _protocols(ask.ask("Protocols (imap, smtp, pop)", "imap,smtp"))
    if a.protocols is None:
        a.protocols = DEFAULT_PROTOCOLS
    if a.provider != "oidc":
        provider = data.providers[a.provider or ""]
        if ask is not None:
            print(f"\nRegister your own application at {provider.register_page} first;")
            print("the steps follow once the account is written. Then:")
    if ask is not None and a.client_id is None:
        a.client_id = ask.ask("Your application's client ID")
    if ask is not None and a.client_secret is None:
        a.client_secret = ask.secret("Its client secret (Enter for none)") or None
    if ask is not None and a.device is None:
        device_ok = a.provider == "oidc" or data.providers[a.provider or ""].device_flow
        if device_ok:
            i = ask.choose(
                "Sign in with",
                ["a browser on this machine", "a code on any device (SSH, no display)"],
            )
            a.device = i == 1
    if not (a.email and "@" in a.email):
        raise Abort(f"'{a.email}' is not a mail address")
    if not a.name or not a.client_id:
        raise Abort("The account name and the client ID may not be empty")


def _plan(a: Answers) -> Plan:
    from pizauth_dbus.config.providers import load

    if a.provider == "oidc":
        from pizauth_dbus.cli.discovery import DiscoveryError, discover

        try:
            meta = discover(a.issuer or "")
        except DiscoveryError as e:
            raise Abort(str(e)) from None
        return plan_oidc(a, meta)
    return plan_known(a, load().providers[a.provider or ""])


def _reload(name: str) -> bool:
    """Reload a running server; True when it now has the account."""
    from pizauth_dbus.cli.client import CallError, call

    try:
        call("Reload", auto_start=False)
    except CallError as e:
        if e.name is None:
            print("No server is running: the first pizauth show starts one with the account.")
        else:
            print(f"The running server did not reload: {e}")
        return False
    print("The running server has read the new account.")
    return True


def _sign_in(name: str) -> int:
    from pizauth_dbus.cli.client import CallError, call
    from pizauth_dbus.errors import ERROR_PREFIX

    try:
        call("Show", "s", name)
        print(f"Already signed in: pizauth show {name} prints a token.")
        return 0
    except CallError as e:
        if e.name != ERROR_PREFIX + "AuthorisationPending":
            print(f"ERROR - {e}", file=sys.stderr)
            return 1
        print(f"Sign in: {e}")
        print(
            f"(From a browser on another machine: pizauth complete {name} URL, with the "
            "address it ended on.)",
            flush=True,
        )
    try:
        call("WaitForToken", "su", name, SIGN_IN_WAIT, wait=SIGN_IN_WAIT)
    except CallError as e:
        print(f"ERROR - {e}", file=sys.stderr)
        return 1
    print(f"Signed in: pizauth show {name} now prints a token.")
    return 0


def main(pn: str, args: list[str]) -> int:
    """Run the assistant; returns the exit code."""
    try:
        return _run(pn, args)
    except Abort as e:
        print(f"ERROR - {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nNothing written.", file=sys.stderr)
        return 1


def _run(pn: str, args: list[str]) -> int:
    from pizauth_dbus.errors import ConfigError
    from pizauth_dbus.paths import default_config_path

    try:
        opts = _parser().parse_args(args)
    except Abort:
        sys.stderr.write(USAGE.format(pn=pn))
        return 1
    if opts.help:
        sys.stderr.write(USAGE.format(pn=pn))
        return 1
    a = Answers(
        name=opts.name,
        provider=opts.provider,
        email=opts.email,
        protocols=_protocols(opts.protocols),
        client_id=opts.client_id,
        client_secret=_secret_option(opts.client_secret),
        tenant=opts.tenant,
        issuer=opts.issuer,
        scopes=_split(opts.scopes),
        device=True if opts.device else (False if opts.yes else None),
    )
    ask = None if opts.yes else Prompter()
    try:
        path = Path(opts.config if opts.config else default_config_path())
    except ConfigError as e:
        raise Abort(str(e)) from None
    old = _read(path)
    _complete(a, ask)
    try:
        plan = _plan(a)
    except PlanError as e:
        raise Abort(str(e)) from None
    assert a.name is not None
    try:
        new = with_account(old or "", a.name, plan.block, replace=opts.replace)
    except ConfigWriteError as e:
        raise Abort(f"{e} ({path})") from None
    _check(new)
    print(f"\nThe account block for {path}:\n\n{_masked(plan.block, a.client_secret)}")
    if ask is not None and not ask.yes(f"Write it to {path}?"):
        print("Nothing written.")
        return 1
    try:
        backup = write(path, old, new)
    except ConfigWriteError as e:
        raise Abort(str(e)) from None
    print(f"Wrote {path}" + (f" (the previous file is {backup})" if backup else " (mode 0600)"))
    print("\nWhat to register at the provider:")
    for i, step in enumerate(plan.register, 1):
        print(f"  {i}. {step}")
    for note in plan.notes:
        print(f"Note: {note}")
    print("\nFor your mail programs:\n")
    print(plan.snippets)
    running = _reload(a.name)
    if opts.sign_in or (ask is not None and running and ask.yes("Sign in now?")):
        return _sign_in(a.name)
    print(f"To sign in: pizauth show -w {SIGN_IN_WAIT} {a.name}")
    return 0


def _secret_option(value: str | None) -> str | None:
    """``--client-secret``'s value; ``-`` reads it from standard input's first line, so that a
    script need not put it in the command line (which other users can see)."""
    if value != "-":
        return value
    secret = sys.stdin.readline().strip()
    if not secret:
        raise Abort("--client-secret -: no secret on standard input")
    return secret


def _read(path: Path) -> str | None:
    try:
        return read(path)
    except ConfigWriteError as e:
        raise Abort(str(e)) from None


def _check(text: str) -> None:
    """The server's own checker on the whole new file: nothing is written if it refuses."""
    from pizauth_dbus.config.loader import parse
    from pizauth_dbus.errors import ConfigError

    try:
        parse(text)
    except ConfigError as e:
        raise Abort(f"The new config would not load, so nothing was written:\n{e}") from None


def _masked(block: str, secret: str | None) -> str:
    """The block as shown on the terminal: the secret is in the file, not on the screen."""
    return block.replace(secret, "********") if secret else block
