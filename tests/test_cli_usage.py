"""The CLI's argument handling and usage text, byte for byte as upstream (no server needed)."""

from __future__ import annotations

import pytest

from harness.server import run_cli
from pizauth_dbus.cli.pizauth import USAGE, UsageError, parse_args

USAGE_BYTES = USAGE.format(pn="pizauth").encode()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["show"],
        ["show", "a", "b"],
        ["show", "-x", "a"],
        ["show", "-h"],
        ["show", "--help"],
        ["status", "extra"],
        ["server", "-j"],
        ["info", "-u"],
        ["--help"],
        ["-h"],
        ["revoke"],
        ["dump", "x"],
        # getopts as upstream uses it: a flag given twice is an error (-v excepted)...
        ["show", "-u", "-u", "a"],
        ["show", "-uu", "a"],
        ["info", "-j", "--j"],
        ["server", "-d", "-d"],
        ["server", "-c", "a", "-c", "b"],
        ["server", "-ca", "--config=b"],
        # ...a long form that takes no value gets none, --config takes its value only after
        # '=' (so the path is left as an argument), and there are no other long options.
        ["show", "--u=1", "a"],
        ["status", "--verbose=2"],
        ["server", "--config", "/x.conf"],
        ["show", "--unhide", "a"],
        ["info", "--json"],
        ["show", "---", "a"],
    ],
)
def test_usage_errors_print_usage_and_exit_1(pizauth_env: dict[str, str], args: list[str]) -> None:
    r = run_cli(pizauth_env, *args)
    assert (r.returncode, r.stdout, r.stderr) == (1, b"", USAGE_BYTES)


def test_usage_text_is_upstreams() -> None:
    assert USAGE_BYTES.decode().splitlines() == [
        "Usage:",
        "  pizauth complete <account> [<url>]",
        "  pizauth dump",
        "  pizauth info [-j]",
        "  pizauth refresh [-u] <account>",
        "  pizauth restore",
        "  pizauth reload",
        "  pizauth revoke <account>",
        "  pizauth server [-c <config-path>] [-dv]",
        "  pizauth show [-u] [-w <seconds>] <account>",
        "  pizauth shutdown",
        "  pizauth status",
    ]


def test_getopts_style_parsing() -> None:
    a = parse_args(["pizauth", "server", "-dvvv", "-c", "/x.conf"])
    assert (a.flags, a.verbose, a.config, a.free) == ({"d", "c"}, 3, "/x.conf", [])
    a = parse_args(["pizauth", "server", "-c", "-d"])  # -c's value is optional
    assert (a.flags, a.config) == ({"c", "d"}, None)
    a = parse_args(["pizauth", "server", "-c/y.conf"])
    assert a.config == "/y.conf"
    a = parse_args(["pizauth", "show", "my account", "-u"])  # options after arguments
    assert (a.flags, a.free) == ({"u"}, ["my account"])
    a = parse_args(["pizauth", "show", "--", "-u"])  # an account named -u
    assert (a.flags, a.free) == (set(), ["-u"])
    a = parse_args(["pizauth", "status", "--verbose", "-v"])
    assert a.verbose == 2
    with pytest.raises(UsageError):
        parse_args(["pizauth", "show", "-uj", "a"])


@pytest.mark.parametrize(
    ("argv", "flags", "config", "verbose", "free"),
    [
        (["server", "--config=/x.conf"], {"c"}, "/x.conf", 0, []),
        (["server", "--c=/x.conf", "--d"], {"c", "d"}, "/x.conf", 0, []),
        (["server", "--config"], {"c"}, None, 0, []),  # no value: the default path
        (["server", "--config="], {"c"}, "", 0, []),  # an empty path, read and refused
        (["server", "-c", "-"], {"c"}, "-", 0, []),  # "-" is a value, not an option
        (["server", "-dc/y.conf"], {"c", "d"}, "/y.conf", 0, []),
        (["server", "-cd"], {"c"}, "d", 0, []),  # the rest of the word is -c's value
        (["show", "--u", "a"], {"u"}, None, 0, ["a"]),
        (["info", "--j", "--v", "--verbose"], {"j"}, None, 2, []),
        (["status", "-vvvv", "-v"], set(), None, 5, []),
        (["show", "-", "-v"], set(), None, 1, ["-"]),
    ],
)
def test_getopts_long_forms_and_values(
    argv: list[str], flags: set[str], config: str | None, verbose: int, free: list[str]
) -> None:
    a = parse_args(["pizauth", *argv])
    assert (a.flags, a.config, a.verbose, a.free) == (flags, config, verbose, free)


def test_arguments_that_are_not_utf8_are_a_usage_error(pizauth_env: dict[str, str]) -> None:
    import os

    account = os.fsdecode(b"caf\xe9")
    with pytest.raises(UsageError):
        parse_args(["pizauth", "show", account])
    r = run_cli(pizauth_env, "show", account)
    assert (r.returncode, r.stderr) == (1, USAGE_BYTES)


def test_program_name_in_usage_follows_argv0(pizauth_env: dict[str, str]) -> None:
    import contextlib
    import io

    from pizauth_dbus.cli.pizauth import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["/opt/bin/pz", "nonsense"]) == 1
    assert err.getvalue().startswith("Usage:\n  pz complete <account> [<url>]\n  pz dump\n")
