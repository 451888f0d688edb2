"""What every benchmark row stands on: the regular install, a private bus, servers, /proc.

The package is measured as a user runs it: a regular (non-editable) install, dependencies
included, in its own virtualenv (``.venv-bench``), because an editable install adds an import
hook to every start. Each row gets private buses of its own, so one row's clients never wake
another row's server.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.dbus_daemon import PrivateBus  # noqa: E402
from harness.procs import wait_until  # noqa: E402
from harness.server import BUS_NAME, PizauthServer  # noqa: E402
from pizauth_dbus.config.loader import parse  # noqa: E402
from pizauth_dbus.server import dump  # noqa: E402

BENCH_VENV = Path(os.environ.get("PIZAUTH_BENCH_VENV", ROOT / ".venv-bench"))
"""Where the regular install goes; a soak can use its own while the table is measured."""
PIP_TIMEOUT = 600.0
"""Seconds one pip run may take: the first one downloads every dependency."""
SETTLE = 1.0
"""Seconds a server is left alone after a burst of work before its memory is read."""
READY_WAIT = 20.0
"""Seconds a server or service gets to appear on (or leave) the bus."""

TOKEN_LIFETIME = 86400.0
"""Seconds until expiry of the tokens restored into servers that only serve them."""


def _pip(*args: str) -> None:
    argv = [str(BENCH_VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    r = subprocess.run(
        [*argv, "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
        check=False,
    )
    if r.returncode != 0:  # its warnings only matter when it failed
        raise RuntimeError(f"pip install {' '.join(args)} failed:\n{r.stdout}{r.stderr}")


def bench_venv() -> Path:
    """``.venv-bench`` holding a regular install of this checkout; its ``bin`` directory.

    The dependencies are installed again only when pyproject.toml changes; the package itself
    on every run, so that what is measured is the code in the working tree.
    """
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True, timeout=120)
    stamp = BENCH_VENV / ".pizauth-bench-deps"
    builder = "setuptools>=77"  # pyproject.toml's build requirement
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + builder.encode()).hexdigest()
    if not stamp.exists() or stamp.read_text() != want:
        _pip(builder, str(ROOT))
        stamp.write_text(want)
    # Built with the venv's own setuptools: an isolated build would fetch one every run.
    _pip("--no-deps", "--force-reinstall", "--no-build-isolation", str(ROOT))
    return BENCH_VENV / "bin"


def make_env(tmp: Path) -> dict[str, str]:
    """A clean environment inside ``tmp``: nothing of the person running the benchmark leaks."""
    (tmp / "run").mkdir(mode=0o700, exist_ok=True)
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp),
        "XDG_RUNTIME_DIR": str(tmp / "run"),
        "XDG_CONFIG_HOME": str(tmp),
        "SHELL": "/bin/sh",
        "LANG": "C.UTF-8",
    }


def account_block(name: str, extra: str = "") -> str:
    # Port 9 (discard) answers nothing: these accounts are only ever served, never refreshed.
    return (
        f'account "{name}" {{\n    auth_uri = "http://127.0.0.1:9/auth";\n'
        f'    token_uri = "http://127.0.0.1:9/token";\n    client_id = "bench";\n{extra}}}\n'
    )


def accounts_config(n: int, *, globals_: str = "") -> str:
    """A config with ``n`` accounts named ``a0``... and no notifications."""
    head = 'http_listen = "127.0.0.1:0";\nhttps_listen = none;\ndesktop_notifications = false;\n'
    return head + globals_ + "".join(account_block(f"a{i}") for i in range(n))


def restore_tokens(
    server: PizauthServer, config_text: str, lifetime: float = TOKEN_LIFETIME
) -> None:
    """Make every account of the server Active with a token ``tok-<name>`` (``pizauth restore``)."""
    now = time.time()
    accounts = parse(config_text).accounts.values()
    data = dump.encode(
        [(a, dump.DumpedToken(f"tok-{a.name}", now, now + lifetime, None)) for a in accounts]
    )
    r = server.cli("restore", input=data, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"restore failed: {r.stderr!r}\n{server.log()}")


@dataclass
class Rig:
    """One private bus, and what the benchmark started on it (stopped by the ``ExitStack``)."""

    bus: PrivateBus
    env: dict[str, str]
    tmp: Path
    stack: ExitStack

    def server(self, config_text: str, bin_dir: Path, *, name: str = "server") -> PizauthServer:
        """Start the installed ``pizauth server`` with ``config_text`` and wait for its name."""
        path = self.tmp / f"{name}.conf"
        path.write_text(config_text)
        server = PizauthServer(
            path, self.env, log_path=self.tmp / f"{name}.log", command=[str(bin_dir / "pizauth")]
        )
        self.stack.callback(server.stop)
        return server.start(timeout=READY_WAIT)


@contextmanager
def rig(tmp: Path, name: str) -> Iterator[Rig]:
    """A fresh private bus in ``tmp/name`` with a clean environment pointing at it."""
    d = tmp / name
    d.mkdir()
    env = make_env(d)
    with ExitStack() as stack:
        bus = stack.enter_context(PrivateBus(env))
        env["DBUS_SESSION_BUS_ADDRESS"] = bus.address
        yield Rig(bus, env, d, stack)


def wait_name(bus: PrivateBus, owned: bool, name: str = BUS_NAME) -> None:
    """Wait (bounded) until ``name`` is owned (or no longer owned) on ``bus``."""
    if not wait_until(lambda: bus.name_has_owner(name) == owned, READY_WAIT, interval=0.005):
        raise RuntimeError(f"{name} still {'un' if owned else ''}owned after {READY_WAIT} s")


# -- measuring ----------------------------------------------------------------------------------


def timed_run(argv: Sequence[str], env: dict[str, str], *, check: bool = True) -> float:
    """Wall seconds of one run of ``argv`` (bounded), output discarded."""
    t = time.perf_counter()
    r = subprocess.run(
        list(argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60
    )
    elapsed = time.perf_counter() - t
    if check and r.returncode != 0:
        raise RuntimeError(f"{argv!r} failed ({r.returncode}): {r.stderr!r}")
    return elapsed


def round_robin(commands: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Median of each measurement, taken in turn each round so that noise hits all alike."""
    samples: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(rounds):
        for name, measure in commands.items():
            samples[name].append(measure())
    return {k: statistics.median(v) for k, v in samples.items()}


def _threads(pid: int) -> list[Path]:
    return list(Path(f"/proc/{pid}/task").iterdir())


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def context_switches(pid: int) -> int:
    """Voluntary plus involuntary context switches of every thread of ``pid`` so far."""
    total = 0
    for task in _threads(pid):
        try:
            text = (task / "status").read_text()
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
        for line in text.splitlines():
            if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                total += int(line.split()[1])
    return total


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of process ``pid`` so far, to the nanosecond (schedstat), where
    /proc/PID/stat counts in 10 ms ticks, too coarse for a few thousand calls of 40 µs."""
    total = 0
    for task in _threads(pid):
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
    return total / 1e9
