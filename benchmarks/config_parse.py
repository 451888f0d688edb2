"""How long parsing a large pizauth.conf takes, relative to tomllib on the same data as TOML.

Not a test: run it by hand, ``.venv/bin/python benchmarks/config_parse.py [accounts...]``.
For each size it generates one config with that many accounts, writes the same data as TOML,
and times :func:`pizauth_dbus.config.loader.parse` (grammar and every check) against
:func:`tomllib.loads` (parsing only) in the same run, taking the best of several rounds so that
both see the same machine state. The target is a ratio of at most 3 (``bench.py`` has the
same row, measured by medians).
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pizauth_dbus.config import loader as config

TARGET_RATIO = 3.0


def toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def generate(n: int) -> tuple[str, str]:
    """One config with ``n`` accounts, as pizauth.conf text and as equivalent TOML text."""
    conf = [
        'auth_notify_cmd = "notify-send -t 30000 \'pizauth\' \\"$PIZAUTH_ACCOUNT\\"";',
        'http_listen = "127.0.0.1:8765";',
        "https_listen = none;",
        "refresh_retry = 33s;",
    ]
    toml = [
        "auth_notify_cmd = " + toml_str("notify-send -t 30000 'pizauth' \"$PIZAUTH_ACCOUNT\""),
        'http_listen = "127.0.0.1:8765"',
        "https_listen = false",
        'refresh_retry = "33s"',
    ]
    for i in range(n):
        host = f"login{i % 7}.example.com"
        values = [
            ("auth_uri", f"https://{host}/common/oauth2/v2.0/authorize"),
            ("token_uri", f"https://{host}/common/oauth2/v2.0/token"),
            ("client_id", f"0c1d2e3f-{i:08d}-client"),
            ("client_secret", f'secret-{i}-Zx9"q'),
            ("redirect_uri", "http://localhost/"),
        ]
        scopes = ["https://outlook.office365.com/IMAP.AccessAsUser.All", "offline_access"]
        field = ("login_hint", f"user{i}@example.com")
        conf.append(f'\naccount "account {i}" {{')
        conf.append(f"    // account number {i}")
        conf += [f"    {k} = {toml_str(v)};" for k, v in values]
        conf.append("    scopes = [" + ", ".join(toml_str(s) for s in scopes) + "];")
        conf.append(f"    auth_uri_fields = {{ {toml_str(field[0])}: {toml_str(field[1])} }};")
        conf.append("    refresh_at_least = 43m;\n}")
        toml.append(f'\n[account."account {i}"]')
        toml.append(f"# account number {i}")
        toml += [f"{k} = {toml_str(v)}" for k, v in values]
        toml.append("scopes = [" + ", ".join(toml_str(s) for s in scopes) + "]")
        toml.append(f"auth_uri_fields = [[{toml_str(field[0])}, {toml_str(field[1])}]]")
        toml.append('refresh_at_least = "43m"')
    return "\n".join(conf) + "\n", "\n".join(toml) + "\n"


def best_time(fn: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sizes", nargs="*", type=int, default=[10, 100, 1000])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    config.parse(generate(1)[0])  # build the grammar once, as a long-running server does
    print(f"{'accounts':>8} {'bytes':>9} {'pyparsing':>11} {'tomllib':>9} {'ratio':>6}")
    ratio = 0.0
    for n in args.sizes:
        conf, toml = generate(n)
        parsed = config.parse(conf)
        assert len(parsed.accounts) == n and len(tomllib.loads(toml)["account"]) == n
        ours = best_time(lambda: config.parse(conf), args.rounds)  # noqa: B023
        theirs = best_time(lambda: tomllib.loads(toml), args.rounds)  # noqa: B023
        ratio = ours / theirs
        print(f"{n:>8} {len(conf):>9} {ours * 1000:>9.1f}ms {theirs * 1000:>7.1f}ms {ratio:>5.1f}x")
    verdict = "within" if ratio <= TARGET_RATIO else "over"
    print(f"largest config: {ratio:.1f}x tomllib, {verdict} the {TARGET_RATIO:.0f}x target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
