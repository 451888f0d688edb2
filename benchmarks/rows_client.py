"""The rows a mail program feels: warm ``show``, the first ``show`` that starts the server, and
parsing a large config (what every start and reload pays)."""

from __future__ import annotations

import functools
import re
import statistics
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

from benchenv import SETTLE, Rig, account_block, restore_tokens, round_robin, timed_run, wait_name
from config_parse import generate
from rowtypes import Row

from harness.flows import GDBUS_CALL
from harness.server import BUS_NAME
from pizauth_dbus.config import loader as config

SHOW_CONFIG = 'http_listen = "127.0.0.1:0";\nhttps_listen = none;\n' + account_block("a0")

PHASES = ("checks", "config", "imports", "duties", "listeners", "bus name")
_PHASE_LINE = re.compile(r"Start-up phases \(ms\): (.*)$", re.MULTILINE)


def show_rows(rig: Rig, bin_dir: Path, rounds: int) -> list[Row]:
    """Warm ``pizauth show`` against gdbus and the interpreter's own floors."""
    server = rig.server(SHOW_CONFIG, bin_dir)
    restore_tokens(server, SHOW_CONFIG)
    python, env = str(bin_dir / "python"), rig.env
    argvs = {
        "show": [str(bin_dir / "pizauth"), "show", "a0"],
        "gdbus": [*GDBUS_CALL, "--method", "org.pizauth.Manager.Show", "a0"],
        "floor": [python, "-c", "import jeepney.io.blocking"],
        "pass": [python, "-c", "pass"],
    }
    measures: dict[str, Callable[[], float]] = {
        k: functools.partial(timed_run, a, env) for k, a in argvs.items()
    }
    round_robin(measures, 3)  # the page cache, the bus's first-connection work
    m = round_robin(measures, rounds)
    ctx = (
        f"show {m['show'] * 1e3:.1f} ms, gdbus {m['gdbus'] * 1e3:.1f} ms, "
        f"import jeepney {m['floor'] * 1e3:.1f} ms, python -c pass {m['pass'] * 1e3:.1f} ms"
    )
    return [
        Row("show", "warm show / Python floor", m["show"] / m["floor"], 1.25, ctx),
        Row("show", "warm show / gdbus call", m["show"] / m["gdbus"], None, ""),
        Row("show", "warm show / python -c pass", m["show"] / m["pass"], None, ""),
    ]


def activation_rows(rig: Rig, bin_dir: Path, rounds: int) -> list[Row]:
    """The first ``show`` of a session, which starts the server by D-Bus activation."""
    conf = rig.tmp / "activated.conf"
    conf.write_text(SHOW_CONFIG)
    pizauth = str(bin_dir / "pizauth")
    rig.bus.add_service(BUS_NAME, [pizauth, "server", "-d", "-vvv", "-c", str(conf)])
    show = [pizauth, "show", "a0"]  # exits 1: a new server has no token, only a URL
    first: list[float] = []
    warm: list[float] = []
    for _ in range(rounds + 1):
        first.append(timed_run(show, rig.env, check=False))
        time.sleep(SETTLE)  # a warm server has finished starting (its listeners serve)
        warm.append(timed_run(show, rig.env, check=False))
        timed_run([pizauth, "shutdown"], rig.env)
        wait_name(rig.bus, owned=False)
        time.sleep(0.2)  # let the old process finish exiting, not compete with the next
    first, warm = first[1:], warm[1:]  # the first round also warms the page cache
    phases = _phases(rig.bus.log())
    f, w = statistics.median(first), statistics.median(warm)
    split = ", ".join(f"{k} {phases.get(k, float('nan')):.0f}" for k in PHASES)
    return [
        Row(
            "activation",
            "first (activating) show / warm show",
            f / w,
            6.0,
            f"first {f * 1e3:.0f} ms, warm {w * 1e3:.1f} ms; server start-up (ms): {split}",
        )
    ]


def _phases(log: str) -> dict[str, float]:
    """Median of each start-up phase over every start the bus's log holds."""
    samples: dict[str, list[float]] = {}
    for match in _PHASE_LINE.finditer(log):
        for part in match.group(1).split(", "):
            name, _, ms = part.rpartition(" ")
            samples.setdefault(name, []).append(float(ms))
    return {k: statistics.median(v) for k, v in samples.items()}


def config_rows(rounds: int, accounts: int = 1000) -> list[Row]:
    """Parsing (and checking) a generated config against tomllib on the same data."""
    conf, toml = generate(accounts)
    config.parse(generate(1)[0])  # the grammar is built once per process
    assert len(config.parse(conf).accounts) == accounts

    def ours() -> float:
        t = time.perf_counter()
        config.parse(conf)
        return time.perf_counter() - t

    def theirs() -> float:
        t = time.perf_counter()
        tomllib.loads(toml)
        return time.perf_counter() - t

    m = round_robin({"ours": ours, "tomllib": theirs}, rounds)
    return [
        Row(
            "config",
            f"parse {accounts} accounts / tomllib",
            m["ours"] / m["tomllib"],
            3.0,
            f"ours {m['ours'] * 1e3:.0f} ms, tomllib {m['tomllib'] * 1e3:.1f} ms "
            f"(Python {sys.version_info.major}.{sys.version_info.minor})",
        )
    ]
