"""``pizauth-dbus doctor [-c CONFIG] [--json] [--online]``: one checklist of what pizauth
needs, each line ✔, ✘ or ! with what was found and, for a problem, its fix.

It changes nothing and starts nothing (not the server, not a notification service, not a
keyring). Without ``--online`` it does not touch the network either. Exit 0 when nothing is
✘, 1 otherwise, 2 for a bad command line. ``--json`` prints the same as one JSON document for
scripts and bug reports (schema: ``{"ok": bool, "checks": [{"area", "verdict", "text",
"fix", "details"}]}``, verdict one of ``ok``, ``fail``, ``note``).
"""

from __future__ import annotations

import json
import sys

from pizauth_dbus.doctor.checks import (
    Check,
    Context,
    bus_checks,
    config_checks,
    online_checks,
    server_checks,
    this_program,
)
from pizauth_dbus.doctor.desktop import desktop_checks, keyring_checks
from pizauth_dbus.doctor.tampering import tampering_checks

USAGE = "Usage: {pn} doctor [-c <config-path>] [--json] [--online]\n"

MARKS = {"ok": "✔", "fail": "✘", "note": "!"}
ASCII_MARKS = {"ok": "[ok]", "fail": "[FAIL]", "note": "[note]"}


def run(config: str | None, online: bool) -> list[Check]:
    """Every check, in the order a person would look."""
    ctx = Context(online=online)
    checks = bus_checks(ctx)
    checks += config_checks(ctx, config)
    try:
        checks += server_checks(ctx, this_program())
        checks += desktop_checks(ctx)
        checks += keyring_checks(ctx)
    finally:
        if ctx.bus is not None:
            ctx.bus.close()
    checks += tampering_checks(ctx)
    checks += online_checks(ctx)
    return checks


def render(checks: list[Check], encoding: str) -> str:
    """The checklist as text; ASCII marks where the terminal cannot show the symbols."""
    try:
        "".join(MARKS.values()).encode(encoding)
        marks = MARKS
    except (UnicodeEncodeError, LookupError):
        marks = ASCII_MARKS
    lines = []
    for c in checks:
        text = c.text.replace("\n", "\n    ")
        lines.append(f"{marks[c.verdict]} {c.area}: {text}")
        if c.fix and c.verdict != "ok":
            lines.append(f"    fix: {c.fix}")
    return "\n".join(lines) + "\n"


def as_json(checks: list[Check]) -> str:
    doc = {
        "ok": not any(c.verdict == "fail" for c in checks),
        "checks": [
            {
                "area": c.area,
                "verdict": c.verdict,
                "text": c.text,
                "fix": c.fix,
                "details": c.details,
            }
            for c in checks
        ],
    }
    return json.dumps(doc, indent=2, default=str) + "\n"


def main(pn: str, args: list[str]) -> int:
    """``pizauth-dbus doctor`` with ``args`` (what follows ``doctor``)."""
    config: str | None = None
    want_json = online = False
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--json":
            want_json = True
        elif arg == "--online":
            online = True
        elif arg in ("-c", "--config") and i < len(args):
            config, i = args[i], i + 1
        elif arg.startswith("--config="):
            config = arg.removeprefix("--config=")
        elif arg.startswith("-c") and len(arg) > 2:
            config = arg[2:]
        else:
            sys.stderr.write(USAGE.format(pn=pn))
            return 2  # not 1: that means a problem was found
    checks = run(config, online)
    if want_json:
        sys.stdout.write(as_json(checks))
    else:
        sys.stdout.write(render(checks, sys.stdout.encoding or "ascii"))
    return 1 if any(c.verdict == "fail" for c in checks) else 0
