"""The CLI's argument handling and usage text, byte for byte as upstream (no server needed)."""

from __future__ import annotations

import pytest

from pizauth_dbus.cli import USAGE, UsageError, parse_args
from tests.support.server import run_cli

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
    ],
)
def test_usage_errors_print_usage_and_exit_1(pizauth_env: dict[str, str], args: list[str]) -> None:
    r = run_cli(pizauth_env, *args)
    assert (r.returncode, r.stdout, r.stderr) == (1, b"", USAGE_BYTES)


def test_usage_text_is_upstreams() -> None:
    assert USAGE_BYTES.decode().splitlines() == [
        "Usage:",
        "  pizauth dump",
        "  pizauth info [-j]",
        "  pizauth refresh [-u] <account>",
        "  pizauth restore",
        "  pizauth reload",
        "  pizauth revoke <account>",
        "  pizauth server [-c <config-path>] [-dv]",
        "  pizauth show [-u] <account>",
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


def test_program_name_in_usage_follows_argv0(pizauth_env: dict[str, str]) -> None:
    import contextlib
    import io

    from pizauth_dbus.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["/opt/bin/pz", "nonsense"]) == 1
    assert err.getvalue().startswith("Usage:\n  pz dump\n")
