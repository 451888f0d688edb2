"""``pizauth show`` must stay light: it runs on every mail check."""

from __future__ import annotations

import subprocess
import sys

from harness.oidc import OidcProvider
from harness.server import ServerFactory
from harness.texts import HEAD

HEAVY = ("asyncio", "aiohttp", "dbus_fast", "pyparsing", "cryptography", "desktop_notifier")


def imported_modules(env: dict[str, str], *args: str) -> tuple[set[str], str]:
    """Run the CLI with ``-X importtime`` and return every module it imported."""
    code = "import sys\nfrom pizauth_dbus.cli.pizauth import main\nsys.exit(main(sys.argv[1:]))"
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, "pizauth", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    mods = set()
    rest = []
    for line in r.stderr.splitlines():
        if line.startswith("import time:"):
            mods.add(line.rsplit("|", 1)[1].strip())
        else:
            rest.append(line)
    return mods, "\n".join(rest)


def test_show_and_refresh_import_nothing_heavy(oidc: OidcProvider, servers: ServerFactory) -> None:
    server = servers(HEAD + oidc.account_config("acct"))
    for args in (("show", "acct"), ("show", "-u", "acct"), ("refresh", "acct")):
        mods, stderr = imported_modules(server.env, *args)
        # The call really reached the server: it answered with the pending URL.
        assert "Access token unavailable until authorised with URL" in stderr, stderr
        assert "jeepney" in mods and "pizauth_dbus.cli.client" in mods
        heavy = sorted(m for m in mods if m.split(".")[0] in HEAVY)
        assert heavy == [], (args, heavy)


def test_the_server_answers_before_importing_aiohttp_cryptography_or_pyparsing() -> None:
    # The first `pizauth show` of a session waits for the whole server start-up: reading a
    # valid config, the duties and the bus interface import none of them (aiohttp follows in a
    # thread once the listeners are bound; cryptography only with an HTTPS listener or for
    # dump and restore; pyparsing only to explain a syntax error).
    config = HEAD + 'account "a" {\n    auth_uri = "http://a/";\n    token_uri = "http://a/";\n'
    config += '    client_id = "c";\n    scopes = ["x", "y"];\n}\n'
    code = (
        "import sys\n"
        "import pizauth_dbus.server.process, pizauth_dbus.server.manager\n"
        "import pizauth_dbus.server.commands\n"
        "from pizauth_dbus.config.loader import parse\n"
        "assert parse(sys.argv[1]).accounts\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, config],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    loaded = set(r.stdout.split())
    assert "dbus_fast" in loaded
    assert loaded.isdisjoint({"aiohttp", "cryptography", "pyparsing"}), sorted(loaded)
