"""The benchmark command runs, and its table has every row of issue 16.

Only its shape is checked: speed targets live in the benchmark's own table
(benchmarks/RESULTS.md), never in timed tests, which a busy machine would make fail at random.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROWS = {"show", "activation", "load", "config", "memory", "idle"}


@pytest.mark.timeout(600)  # the first run installs the package and its dependencies
def test_the_quick_benchmark_prints_every_row() -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    cells = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in r.stdout.splitlines()
        if line.startswith("| ") and not line.startswith("| row ")
    ]
    assert {c[0] for c in cells} == ROWS, r.stdout
    for group, what, ratio, *_ in cells:
        value = float(ratio.removesuffix("×").removesuffix("/min"))
        assert math.isfinite(value) and value >= 0, (group, what, ratio)
    # Every start-up phase the server logs was found in its log.
    activation = next(c for c in cells if c[0] == "activation")
    assert "nan" not in activation[-1] and "bus name" in activation[-1], activation
    assert r.stdout.startswith("Machine: "), r.stdout
