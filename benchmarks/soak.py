"""The soak: many accounts with short-lived tokens against the local provider, for minutes.

Not part of the quick or the full table (it takes as long as you ask):
``./scripts/bench.sh --soak 10 [--soak-accounts 200]``. One account is signed in through the
provider as a person would; its refresh token is then restored into every account (the
provider does not rotate refresh tokens here, so they share one grant), each with a different
expiry so that refreshes spread out. The provider's access tokens live :data:`AT_TTL` seconds
and every account refreshes :data:`BEFORE_EXPIRY` seconds ahead, so each one refreshes about
twice a minute. Meanwhile ``Show`` is called round-robin over one bus connection, and every
token served is checked against the provider's own expiry for it (introspection): a token
served after that moment is late.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from benchenv import rig, rss_kib
from jeepney.io.blocking import DBusConnection, open_dbus_connection
from rowtypes import Row

from harness.dbus_call import MANAGER, call
from harness.flows import authorise_account
from harness.oidc import OidcProvider
from harness.server import PizauthServer
from pizauth_dbus.config.loader import parse
from pizauth_dbus.server import dump

AT_TTL = 60
"""Seconds the provider's access tokens live."""
BEFORE_EXPIRY = 30
"""``refresh_before_expiry`` of every account, seconds."""
WARM_UP = 60.0
"""Seconds before the starting RSS is read: every account has refreshed once by then."""
SHOW_GAP = 0.01
"""Seconds between two ``Show`` calls of the checker."""


def _config(provider: OidcProvider, accounts: int) -> str:
    head = 'http_listen = "127.0.0.1:0";\nhttps_listen = none;\ndesktop_notifications = false;\n'
    extra = f"refresh_before_expiry = {BEFORE_EXPIRY}s;"
    return head + "".join(provider.account_config(f"s{i}", extra=extra) for i in range(accounts))


def _spread(server: PizauthServer, config_text: str, accounts: int) -> None:
    """Sign in ``s0``, then give every account its refresh token with staggered expiries."""
    authorise_account(server, "s0")
    token = dump.decode(server.cli("dump").stdout)["s0"].token
    assert token is not None and token.refresh_token is not None
    now = time.time()
    # Never later than the real expiry, so a restored token is never served late by design.
    span = max(1.0, token.expiry - now - 1)
    data = dump.encode(
        [
            (a, dump.DumpedToken(token.access_token, now, now + span * (i + 1) / accounts,
                                 token.refresh_token))
            for i, a in enumerate(parse(config_text).accounts.values())
        ]
    )  # fmt: skip
    r = server.cli("restore", input=data, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"restore failed: {r.stderr!r}")


class Checker:
    """Calls ``Show`` and judges each token by the provider's expiry for it."""

    def __init__(self, conn: DBusConnection, provider: OidcProvider) -> None:
        self.conn = conn
        self.provider = provider
        self.expiry: dict[str, float] = {}
        self.shows = self.late = self.errors = 0

    def check(self, account: str) -> None:
        reply = call(self.conn, MANAGER, "Show", "s", (account,), timeout=30)
        served = time.time()
        self.shows += 1
        if not reply.ok:
            self.errors += 1
            return
        tok = str(reply.body[0])
        if tok not in self.expiry:
            info = self.provider.introspect(tok)
            self.expiry[tok] = float(info.get("exp", 0))
        if served > self.expiry[tok]:
            self.late += 1


def soak(bin_dir: Path, minutes: float, accounts: int) -> list[Row]:
    tmp = Path(tempfile.mkdtemp(prefix="pizauth-soak-"))
    try:
        return _soak(tmp, bin_dir, minutes, accounts)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _soak(tmp: Path, bin_dir: Path, minutes: float, accounts: int) -> list[Row]:
    with (
        OidcProvider(at_ttl=AT_TTL, rt_ttl=int(minutes * 60) + 3600, log_dir=tmp) as provider,
        rig(tmp, "soak") as r,
    ):
        config_text = _config(provider, accounts)
        server = r.server(config_text, bin_dir, name="soak")
        _spread(server, config_text, accounts)
        grants = provider.log().count("grant.success refresh_token")
        checker = Checker(open_dbus_connection(bus=r.bus.address), provider)
        started = time.monotonic()
        end = started + minutes * 60
        rss_start: int | None = None
        i = 0
        while time.monotonic() < end:
            if rss_start is None and time.monotonic() - started >= min(WARM_UP, minutes * 15):
                rss_start = rss_kib(server.pid)
            checker.check(f"s{i % accounts}")
            i += 1
            time.sleep(SHOW_GAP)
        rss_end = rss_kib(server.pid)
        checker.conn.close()
        log = provider.log()
        refreshes = log.count("grant.success refresh_token") - grants
        failed = log.count("grant.error")
        assert rss_start is not None
    expected = accounts * minutes * 60 / (AT_TTL - BEFORE_EXPIRY)
    return [
        Row("soak", f"refreshes done, {accounts} accounts, {minutes:g} min", refreshes, None,
            f"about {expected:.0f} expected (one per account every {AT_TTL - BEFORE_EXPIRY} s)",
            unit=""),
        Row("soak", "late tokens (served after the provider's expiry)", checker.late, 0.0,
            f"{checker.shows} shows checked", unit=""),
        Row("soak", "errors (refresh grant errors + Show errors)", failed + checker.errors, 0.0,
            f"{failed} grant errors, {checker.errors} Show errors", unit=""),
        Row("soak", "RSS end / start", rss_end / rss_start, 1.05,
            f"{rss_start} KiB after {min(WARM_UP, minutes * 15):.0f} s, {rss_end} KiB at the end"),
    ]  # fmt: skip
