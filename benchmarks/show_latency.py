"""How fast is ``pizauth show``? Measured side by side with gdbus and a bare Python start.

Starts a private session bus and one real server holding a token (put there by ``restore``, so
no provider is needed), then times, round-robin so that machine noise hits all alike:

- ``pizauth show bench`` (the console script of a regular, non-editable install in a fresh
  venv, as a mail client runs it: an editable install adds an import hook that costs ~10 ms);
- ``gdbus call ... org.pizauth.Manager.Show bench`` (a C client of the same method);
- ``python -c pass`` (the floor for any Python program).

Prints the median wall time of each and the ratios. The issue's bar: show <= 8x gdbus.
Usage: .venv/bin/python benchmarks/show_latency.py [ROUNDS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.bus import PrivateBus
from harness.flows import GDBUS_CALL
from harness.server import PizauthServer
from pizauth_dbus import dump
from pizauth_dbus.config import parse

CONFIG = """\
http_listen = "127.0.0.1:0";
https_listen = none;
account "bench" {
    auth_uri = "http://127.0.0.1:9/auth";
    token_uri = "http://127.0.0.1:9/token";
    client_id = "bench";
}
"""


ROOT = Path(__file__).resolve().parent.parent


def regular_install(tmp: Path) -> list[str]:
    """Install this checkout (and jeepney, the only thing ``show`` imports) into a new venv."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            str(ROOT),
            "jeepney",
        ],
        check=True,
    )
    return [str(venv / "bin" / "pizauth")]


def timed(argv: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    tmp = Path(tempfile.mkdtemp(prefix="pizauth-bench-"))
    (tmp / "run").mkdir(mode=0o700)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp),
        "XDG_RUNTIME_DIR": str(tmp / "run"),
        "XDG_CONFIG_HOME": str(tmp),
        "SHELL": "/bin/sh",
    }
    config = tmp / "pizauth.conf"
    config.write_text(CONFIG)
    show_cmd = regular_install(tmp)
    with PrivateBus(env) as bus:
        env["DBUS_SESSION_BUS_ADDRESS"] = bus.address
        server = PizauthServer(config, env, log_path=tmp / "server.log").start()
        try:
            acct = parse(CONFIG).accounts["bench"]
            now = time.time()
            data = dump.encode([(acct, dump.DumpedToken("t0ken", now, now + 86400, None))])
            assert server.cli("restore", input=data).returncode == 0
            assert server.cli("show", "bench").stdout == b"t0ken\n"
            commands = {
                "pizauth show": [*show_cmd, "show", "bench"],
                "gdbus call Show": [*GDBUS_CALL, "--method", "org.pizauth.Manager.Show", "bench"],
                "python -c pass": [sys.executable, "-c", "pass"],
            }
            times: dict[str, list[float]] = {k: [] for k in commands}
            for _ in range(3):  # warm the page cache
                for argv in commands.values():
                    timed(argv, env)
            for _ in range(rounds):
                for name, argv in commands.items():
                    times[name].append(timed(argv, env))
        finally:
            server.stop()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{rounds} rounds, median wall time per run")
    print(f"{'command':<18} {'median ms':>10} {'/ gdbus':>9} {'/ python':>9}")
    for name, m in med.items():
        print(
            f"{name:<18} {m * 1000:>10.1f} {m / med['gdbus call Show']:>9.2f}"
            f" {m / med['python -c pass']:>9.2f}"
        )
    ratio = med["pizauth show"] / med["gdbus call Show"]
    print(f"pizauth show / gdbus = {ratio:.2f} (bar: <= 8)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
