"""The laptop row: how often an idle server wakes after a real sign-in, with a resume source
(logind, from python-dbusmock on a private system bus) and without one (no system bus at all,
so the clock-jump detector looks every 37 s).

With a source, the work needs no wake-up until the token's refresh falls due (an hour here),
so the target is at most one a minute; without, the clock-jump detector's 37 s give about 1.6.
Counting starts once the sign-in's own timers have run out (:data:`SETTLE`): the provider
connection's keep-alive and the redirect connection's deadline each wake the server once, a few
seconds after the sign-in, which says nothing about how an idle server sleeps.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from benchenv import Rig, rig
from rows_server import Idle
from rowtypes import Row

from harness.dbus_daemon import PrivateBus
from harness.dbusmock import MockService
from harness.flows import authorise_account
from harness.oidc import OidcProvider

TOKEN_TTL = 3600
"""Seconds the provider's access tokens live: longer than any window, so no refresh is due."""
WITH, WITHOUT = "resume source (logind)", "no resume source"
TARGETS = {WITH: 1.0, WITHOUT: 2.0}
SETTLE = 30.0
"""Seconds between the last sign-in and the start of counting (at most a tenth of the window)."""
_HEAD = 'http_listen = "127.0.0.1:0";\nhttps_listen = none;\ndesktop_notifications = false;\n'


def _with_logind(r: Rig, tmp: Path) -> None:
    system = r.stack.enter_context(PrivateBus(r.env, kind="system"))
    r.env["DBUS_SYSTEM_BUS_ADDRESS"] = system.address
    r.stack.enter_context(MockService("logind", system.address, tmp))


def laptop_rows(tmp: Path, bin_dir: Path, window: float) -> list[Row]:
    """Sign in for real on two servers, then count their wake-ups over ``window`` seconds."""
    with (
        OidcProvider(at_ttl=TOKEN_TTL, log_dir=tmp) as provider,
        rig(tmp, "laptop-logind") as with_source,
        rig(tmp, "laptop-none") as without,
    ):
        _with_logind(with_source, tmp)
        without.env["DBUS_SYSTEM_BUS_ADDRESS"] = f"unix:path={tmp / 'no-system-bus'}"
        config = _HEAD + provider.account_config("acct")
        idle = Idle()
        for label, r in ((WITH, with_source), (WITHOUT, without)):
            server = r.server(config, bin_dir, name=f"laptop-{r.tmp.name}")
            authorise_account(server, "acct")
            idle.servers[f"after a real sign-in, {label}"] = server.pid
        time.sleep(min(SETTLE, window / 10))
        idle.begin()
        rows = idle.rows(window)
    targets = (TARGETS[WITH], TARGETS[WITHOUT])
    return [replace(row, target=t) for row, t in zip(rows, targets, strict=True)]
