"""One row of the benchmark table, and the table as Markdown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """A ratio measured side by side; ``target`` is the issue's bar for it (None: context)."""

    group: str
    what: str
    ratio: float
    target: float | None
    context: str
    unit: str = "×"

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "met" if self.ratio <= self.target else "MISSED"


def table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table: ratio, target, verdict, absolute figures for context."""
    lines = [
        "| row | measured | ratio | target | | context |",
        "|---|---|--:|--:|---|---|",
    ]
    for r in rows:
        target = "" if r.target is None else f"≤ {r.target:g}{r.unit}"
        value = f"{r.ratio:g}" if r.unit == "" else f"{r.ratio:.2f}{r.unit}"
        lines.append(f"| {r.group} | {r.what} | {value} | {target} | {r.verdict} | {r.context} |")
    return "\n".join(lines)
