"""The one benchmark: every row of issue 16's table, measured side by side in one run.

``./scripts/bench.sh`` (or ``make bench``) runs it; ``--quick`` is the short version the test
suite runs (same rows, fewer rounds, a few-second idle window: its figures are only a smoke
test). ``--soak MINUTES`` runs the soak instead (see :mod:`soak`). It sets up what it needs: a
regular install of this checkout in ``.venv-bench``, private buses, the servers, and for the
soak the local provider (``tests/oidc``, whose npm packages ``scripts/setup.sh`` installs).

Every row is a ratio of medians taken in the same run, so a busy machine slows both sides
alike; the absolute figures beside it are only context.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchenv import bench_venv, rig
from rows_client import activation_rows, config_rows, show_rows
from rows_laptop import laptop_rows
from rows_server import Idle, load_rows, memory_rows
from rowtypes import Row, table


@dataclass(frozen=True)
class Plan:
    """How many rounds each row gets."""

    show: int
    activation: int
    load_rounds: int
    load_calls: int
    config: int
    idle_window: float
    laptop_window: float
    accounts: int = 1000
    clients: int = 100


FULL = Plan(
    show=40,
    activation=15,
    load_rounds=7,
    load_calls=40,
    config=7,
    idle_window=60.0,
    laptop_window=300.0,  # the "at least 5 minutes after a real sign-in"
)
QUICK = Plan(
    show=5,
    activation=2,
    load_rounds=1,
    load_calls=5,
    config=1,
    idle_window=3.0,
    laptop_window=3.0,
    accounts=200,
)


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    kernel = ".".join(platform.release().split(".")[:2])  # the version, not the build's name
    return (
        f"{os.cpu_count()} cores, {cpu}, {platform.system()} {kernel}, "
        f"Python {platform.python_version()}"
    )


def run(plan: Plan) -> list[Row]:
    bin_dir = bench_venv()
    tmp = Path(tempfile.mkdtemp(prefix="pizauth-bench-"))
    try:
        idle = Idle()
        with (
            rig(tmp, "empty") as empty,
            rig(tmp, "one") as one,
            rig(tmp, "many") as many,
        ):
            memory = memory_rows(empty, one, many, bin_dir, plan.accounts, idle)
            idle.begin()  # the idle servers' buses see nothing until the window ends
            with rig(tmp, "show") as r:
                show = show_rows(r, bin_dir, plan.show)
            with rig(tmp, "activation") as r:
                activation = activation_rows(r, bin_dir, plan.activation)
            with rig(tmp, "load") as r:
                load = load_rows(r, bin_dir, plan.clients, plan.load_calls, plan.load_rounds)
            conf = config_rows(plan.config, plan.accounts)
            idle_rows = idle.rows(plan.idle_window)
        laptop = laptop_rows(tmp, bin_dir, plan.laptop_window)
        return [*show, *activation, *load, *conf, *memory, *idle_rows, *laptop]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few rounds: a smoke test, not figures")
    ap.add_argument("--soak", type=float, metavar="MINUTES", help="run the soak instead")
    ap.add_argument("--soak-accounts", type=int, default=200, metavar="N")
    args = ap.parse_args(argv)
    started = time.monotonic()
    if args.soak is not None:
        from soak import soak

        rows = soak(bench_venv(), args.soak, args.soak_accounts)
    else:
        rows = run(QUICK if args.quick else FULL)
    print(f"Machine: {machine()}")
    print(f"Took {time.monotonic() - started:.0f} s\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
