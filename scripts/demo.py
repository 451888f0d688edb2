"""A complete pizauth-dbus session on this machine alone, narrated as it happens.

It starts a private session bus, the bundled local OAuth2 provider (oidc-provider, the one the
tests use) and a real ``pizauth server`` with a generated config; asks ``pizauth show`` for a
token and prints the authorisation URL it answers with; then either lets you open that URL in
your browser (when there is a display) or signs in on the provider's pages itself (when there is
none), and prints the token ``pizauth show`` hands out afterwards. Everything it started is
stopped at the end. Run it through ``./scripts/demo.sh``, which installs what it needs.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.dbus_daemon import PrivateBus
from harness.oidc import OidcProvider
from harness.server import PizauthServer
from harness.user import authorise

BROWSER_WAIT = 300.0
"""Seconds to wait for a person to finish signing in in a real browser."""
PENDING = "ERROR - Access token unavailable until authorised with URL "


def say(msg: str) -> None:
    print(f"demo: {msg}", flush=True)


def wait_for_token(server: PizauthServer, timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = server.cli("show", "demo")
        if r.returncode == 0:
            return r.stdout.decode().strip()
        time.sleep(0.5)
    return None


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="pizauth-demo-"))
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp),
        "XDG_RUNTIME_DIR": str(tmp / "run"),
        "XDG_CONFIG_HOME": str(tmp),
        "SHELL": "/bin/sh",
    }
    (tmp / "run").mkdir(mode=0o700)
    bus = PrivateBus(env)
    provider = OidcProvider(at_ttl=3600, log_dir=tmp)
    server: PizauthServer | None = None
    try:
        say("starting a private D-Bus session bus (your own session is not touched)")
        bus.start()
        env["DBUS_SESSION_BUS_ADDRESS"] = bus.address
        say("starting the bundled local OAuth2 provider (oidc-provider on 127.0.0.1)")
        provider.start()
        say(f"  provider at {provider.issuer}")
        config = tmp / "pizauth.conf"
        config.write_text(
            'http_listen = "127.0.0.1:0";\nhttps_listen = none;\n' + provider.account_config("demo")
        )
        say(f"starting `pizauth server` with this generated config ({config}):")
        for line in config.read_text().splitlines():
            print(f"    {line}")
        server = PizauthServer(config, env, log_path=tmp / "server.log").start()
        say("the server owns org.pizauth on the private bus; running `pizauth show demo`:")
        r = server.cli("show", "demo")
        err = r.stderr.decode()
        print(f"    exit {r.returncode}, stderr: {err.strip()}")
        if r.returncode != 1 or not err.startswith(PENDING):
            say("unexpected answer from `pizauth show`; server log follows")
            print(server.log())
            return 1
        url = err[len(PENDING) :].strip()
        if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
            import webbrowser

            say("opening that URL in your browser: sign in with any name and password,")
            say(f"then consent; waiting up to {BROWSER_WAIT:.0f}s")
            webbrowser.open(url)
            token = wait_for_token(server, BROWSER_WAIT)
        else:
            say("no display here, so nobody can open a browser: the demo now plays the")
            say("person, signing in as 'alice' on the provider's own login and consent pages")
            page = authorise(url)
            say(f"  the provider redirected to pizauth's listener, which answered {page.status}")
            token = wait_for_token(server, 20.0)
        if token is None:
            say("no token arrived; server log follows")
            print(server.log())
            return 1
        say("`pizauth show demo` now prints the access token:")
        print(token)
        active = provider.introspect(token).get("active")
        say(f"the provider's introspection endpoint says this token is active: {active}")
        status = server.cli("status").stdout.decode().strip()
        say(f"`pizauth status`: {status}")
        return 0 if active else 1
    finally:
        say("stopping the server, the provider and the bus")
        if server is not None:
            server.stop()
        provider.cleanup()
        bus.stop()


if __name__ == "__main__":
    sys.exit(main())
