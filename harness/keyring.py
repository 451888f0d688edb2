"""A real Secret Service for the tests: ``gnome-keyring-daemon`` (its secrets component) on
the test's private bus, in the foreground, owned by the test.

Its keyring files live under the test's ``$HOME``; it is unlocked with a password on stdin
when asked. The helpers here look inside it as another program of the same user would (a
``plain`` session), to check what pizauth stored there; they lock and unlock the collection
through the daemon's own unlock-with-password call, so no prompt is ever involved.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Self

from jeepney import DBusAddress
from jeepney.io.blocking import DBusConnection, open_dbus_connection

from harness.dbus_call import CallError, call
from harness.dbus_daemon import name_has_owner
from harness.procs import wait_for
from harness.service import Service

SERVICE = "org.freedesktop.secrets"
SCHEMA = "org.pizauth.Account"
PASSWORD = "test-keyring-password"
LOGIN = "/org/freedesktop/secrets/collection/login"
_SECRETS = DBusAddress("/org/freedesktop/secrets", SERVICE, "org.freedesktop.Secret.Service")
VANISHED = ("org.freedesktop.DBus.Error.UnknownMethod", "org.freedesktop.DBus.Error.UnknownObject")
"""What gnome-keyring answers about an item that no longer exists (its object is gone)."""
_INTERNAL = DBusAddress(
    "/org/freedesktop/secrets", SERVICE, "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface"
)


class GnomeKeyring(Service):
    """``gnome-keyring-daemon --foreground --components=secrets`` on ``env``'s bus.

    :param unlock: give it the password on stdin, which creates (or unlocks) the login
        keyring and makes it the default collection; without it a fresh home has no default.
    """

    def __init__(self, env: dict[str, str], *, unlock: bool = True) -> None:
        self.env = env
        self.unlock_at_start = unlock
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = Path(env["HOME"]).parent / "gnome-keyring.log"

    @property
    def keyrings_dir(self) -> Path:
        return Path(self.env["HOME"]) / ".local" / "share" / "keyrings"

    def start(self) -> Self:
        address = self.env["DBUS_SESSION_BUS_ADDRESS"]
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(
                ["gnome-keyring-daemon", "--foreground", "--components=secrets"]
                + (["--unlock"] if self.unlock_at_start else []),
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        assert self._proc.stdin is not None
        if self.unlock_at_start:
            self._proc.stdin.write(PASSWORD.encode())
        self._proc.stdin.close()
        wait_for(lambda: name_has_owner(address, SERVICE), "gnome-keyring on the bus")
        if self.unlock_at_start:
            wait_for(lambda: self.default_collection() != "/", "the login keyring")
        return self

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=10)

    def started(self) -> bool:
        return self._proc is not None

    def log(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    # ---- Looking inside, as any program of the same user could ----

    def _call(
        self,
        conn: DBusConnection,
        addr: DBusAddress,
        method: str,
        sig: str = "",
        body: tuple[Any, ...] = (),
    ) -> tuple[Any, ...]:
        return call(conn, addr, method, sig, body).result()

    def _connect(self) -> DBusConnection:
        return open_dbus_connection(bus=self.env["DBUS_SESSION_BUS_ADDRESS"])

    def default_collection(self) -> str:
        with self._connect() as conn:
            return str(self._call(conn, _SECRETS, "ReadAlias", "s", ("default",))[0])

    def items(self) -> dict[str, dict[str, Any]]:
        """Every pizauth item, by account: its label, attributes, and secret (JSON, decoded)."""
        out: dict[str, dict[str, Any]] = {}
        with self._connect() as conn:
            _, session = self._call(conn, _SECRETS, "OpenSession", "sv", ("plain", ("s", "")))
            unlocked, locked = self._call(
                conn, _SECRETS, "SearchItems", "a{ss}", ({"xdg:schema": SCHEMA},)
            )
            assert not locked, "the test reads items only while unlocked"
            for item in unlocked:
                props = DBusAddress(item, SERVICE, "org.freedesktop.DBus.Properties")
                iface = "org.freedesktop.Secret.Item"
                try:
                    (label,) = self._call(conn, props, "Get", "ss", (iface, "Label"))
                    (attrs,) = self._call(conn, props, "Get", "ss", (iface, "Attributes"))
                    ((_, _, value, _),) = self._call(
                        conn, DBusAddress(item, SERVICE, iface), "GetSecret", "o", (session,)
                    )
                except CallError as e:
                    # The server may delete an item between the search and these reads (the
                    # tests read while it works): then the object is gone, and so is the item.
                    if e.error in VANISHED:
                        continue
                    raise
                account = attrs[1]["account"]
                assert account not in out, f"two items for account {account}"
                out[account] = {
                    "label": label[1],
                    "attributes": dict(attrs[1]),
                    "secret": json.loads(value),
                }
        return out

    def put(self, account: str, secret: dict[str, Any]) -> None:
        """Store an item as pizauth would (for stale-item tests)."""
        with self._connect() as conn:
            _, session = self._call(conn, _SECRETS, "OpenSession", "sv", ("plain", ("s", "")))
            props = {
                "org.freedesktop.Secret.Item.Label": ("s", f"pizauth: account {account}"),
                "org.freedesktop.Secret.Item.Attributes": (
                    "a{ss}",
                    {"xdg:schema": SCHEMA, "account": account},
                ),
            }
            coll = DBusAddress(LOGIN, SERVICE, "org.freedesktop.Secret.Collection")
            self._call(
                conn,
                coll,
                "CreateItem",
                "a{sv}(oayays)b",
                (props, (session, b"", json.dumps(secret).encode(), "application/json"), True),
            )

    def lock(self) -> None:
        with self._connect() as conn:
            self._call(conn, _SECRETS, "Lock", "ao", ([LOGIN],))

    def unlock(self) -> None:
        with self._connect() as conn:
            _, session = self._call(conn, _SECRETS, "OpenSession", "sv", ("plain", ("s", "")))
            self._call(
                conn,
                _INTERNAL,
                "UnlockWithMasterPassword",
                "o(oayays)",
                (LOGIN, (session, b"", PASSWORD.encode(), "text/plain")),
            )

    def files_text(self) -> bytes:
        """Everything in the keyring's directory, concatenated (for secret scans)."""
        return b"".join(p.read_bytes() for p in sorted(self.keyrings_dir.rglob("*")) if p.is_file())
