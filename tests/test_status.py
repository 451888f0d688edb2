"""``pizauth status`` (and ``show``) in every token state, with upstream's exact lines."""

from __future__ import annotations

import re
import threading
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

from harness.fakeoauth import FakeOAuth, Reply
from harness.flows import pending_url
from harness.lifecycle import (
    in_log,
    lines,
    login_with_fake,
    setting,
    show,
    status,
    wait_for,
)
from harness.server import ServerFactory
from harness.texts import HEAD
from pizauth_dbus.cli.output import status_line
from pizauth_dbus.config.loader import parse
from pizauth_dbus.server.commands import EXPIRED_INITIATED, EXPIRED_REFRESHING
from pizauth_dbus.server.state import Active, Store, now, status_rows

TIME = r"[A-Z][a-z]{2}, [1-9]\d? [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}"
"""RFC 2822 as upstream prints it: the day of the month is not zero-padded."""


def _times(text: str, pattern: str) -> list[float]:
    """The times in ``text`` (which must match ``pattern`` with TIME groups), as Unix times."""
    m = re.fullmatch(re.escape(pattern).replace("TIME", f"({TIME})"), text)
    assert m, (pattern, text)
    return [parsedate_to_datetime(g).timestamp() for g in m.groups()]


def _near(t: float, expected: float, slack: float = 5.0) -> bool:
    return abs(t - expected) <= slack


def test_status_and_show_in_every_state(
    servers: ServerFactory, fake_oauth: FakeOAuth, tmp_path: Path
) -> None:
    told = tmp_path / "told"
    # The notifier runs auth_notify_cmd for one account at a time: while "blocker"'s runs, a
    # newly pending account has not been announced yet.
    notify = (
        f'echo "$PIZAUTH_ACCOUNT" >> {told}; if [ "$PIZAUTH_ACCOUNT" = blocker ]; then sleep 2; fi'
    )
    server = servers(
        HEAD
        + setting("auth_notify_cmd", notify)
        + "".join(fake_oauth.account_config(n) for n in ("active", "blocker", "empty", "waiting"))
        + fake_oauth.account_config("unannounced")
        + fake_oauth.account_config(
            "expired", extra="refresh_before_expiry = 0s;\nrefresh_retry = 1h;\n"
        )
    )
    login_with_fake(server, "active")
    t_active = time.time()

    # A token that lives one second, and whose refresh fails transiently (next try in 1h).
    short = {"access_token": "short", "token_type": "Bearer", "expires_in": 1, "refresh_token": "r"}
    fake_oauth.script.extend([Reply(json=short), Reply(503)])
    login_with_fake(server, "expired")
    wait_for(lambda: in_log(server, "Transitory refresh error for expired"), "the failed refresh")
    t_attempt = time.time()

    pending_url(server, "waiting")
    wait_for(lambda: "waiting" in lines(told), "the announcement")
    t_told = time.time()
    pending_url(server, "blocker")
    wait_for(lambda: "blocker" in lines(told), "the blocker's announcement")
    pending_url(server, "unannounced")

    r = server.cli("status")
    assert r.returncode == 0 and r.stderr == b"" and r.stdout.endswith(b"\n")
    st = status(server)
    assert list(st) == sorted(st)
    assert st["empty"] == "No access token"
    assert st["unannounced"] == "Access token pending authentication"
    (told_at,) = _times(
        st["waiting"], "Access token pending authentication (last notification TIME)"
    )
    obtained, expires = _times(st["active"], "Active access token (obtained TIME; expires TIME)")
    (attempt,) = _times(st["expired"], "Access token expired (last refresh attempt TIME)")
    assert _near(told_at, t_told) and _near(attempt, t_attempt)
    assert _near(obtained, t_active) and _near(expires, t_active + 3600)
    wait_for(lambda: "unannounced" in lines(told), "the late announcement")

    # show on an expired token starts a refresh; asked again meanwhile, it says it is running.
    asked = threading.Event()  # the refresh is answered once both shows have asked
    fake_oauth.script.append(Reply(503, hold=asked))
    assert show(server, "expired") == (1, "", f"ERROR - {EXPIRED_INITIATED}\n")
    assert show(server, "expired") == (1, "", f"ERROR - {EXPIRED_REFRESHING}\n")
    asked.set()
    assert show(server, "active") == (0, "at-1\n", "")


def test_an_expired_token_not_yet_refreshed() -> None:
    # An expired token always falls due for refresh at or before its expiry, so this state is
    # seen only in the instant before the refresher acts (or after a suspend): check the
    # server's side of it directly.
    config = parse(
        'account "acct" {\n auth_uri = "http://127.0.0.1:1/a";\n'
        ' token_uri = "http://127.0.0.1:1/t";\n client_id = "c";\n}\n'
    )
    store = Store(config)
    entry = store.get("acct")
    t = now()
    store.replace("acct", entry.version, Active("tok", t - 100, t - 10, "rt"))
    ((name, state, times),) = status_rows(store)
    assert (name, state, sorted(times)) == ("acct", "expired", ["expiry", "obtained"])
    assert _near(times["obtained"], time.time() - 100) and _near(times["expiry"], time.time() - 10)
    assert status_line(name, state, times) == (
        "acct: Access token expired (refresh not yet attempted)"
    )
