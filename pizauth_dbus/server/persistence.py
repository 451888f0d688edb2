"""``token_store = "keyring"``: keeping each account's tokens in the desktop keyring, so that a
restarted server resumes them without a new sign-in.

This duty owns what is stored and when. One item per account in the default collection, found
by its attributes (the schema and the account name, never a secret), labelled for people; its
secret is a small JSON document with the tokens, their times and a digest of the account's
security-relevant configuration, so that a token is never resumed into an account whose
client, endpoints or scopes have changed. The protocol is
:mod:`pizauth_dbus.server.secretservice`'s.

It listens to the store. A new or refreshed token is written; a token that stops being Active
(revoked, a permanent refresh failure), an account whose security configuration changed and an
account removed by a reload have their item deleted. At start every account's item is read
and a good one resumed (``serve`` waits for that only briefly: a slow keyring must not hold up
``show``). Nothing here blocks the loop or prompts: when the keyring is missing, has no default
collection or is locked, one warning says which accounts stay in memory only and the work is
kept until the keyring is back (a new owner of its bus name, or the next try after
:data:`~pizauth_dbus.timing.KEYRING_RETRY`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from typing import Literal

from pizauth_dbus.config.model import Config
from pizauth_dbus.errors import UnknownAccountError
from pizauth_dbus.server.secretservice import KeyringError, SecretService
from pizauth_dbus.server.state import Active, Entry, Store, from_wall, now, to_wall
from pizauth_dbus.server.tasks import Tasks, wait_woken
from pizauth_dbus.timing import KEYRING_RETRY

log = logging.getLogger(__name__)

SCHEMA = "org.pizauth.Account"
FORMAT = 1
Op = Literal["resume", "write", "delete"]


def attributes(name: str) -> dict[str, str]:
    """The attributes that find an account's item (public: a keyring shows them to anyone)."""
    return {"xdg:schema": SCHEMA, "account": name}


def config_digest(entry: Entry) -> str:
    """A digest of the account's security-relevant configuration: what its tokens are bound to."""
    fields = {k: _plain(v) for k, v in entry.account.security_fields().items()}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _plain(value: object) -> object:
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


def encode(name: str, entry: Entry, tok: Active) -> bytes:
    """The item's secret for an Active token."""
    doc = {
        "format": FORMAT,
        "account": name,
        "config": config_digest(entry),
        "access_token": tok.access_token,
        "refresh_token": tok.refresh_token,
        "obtained": to_wall(tok.obtained),
        "expiry": to_wall(tok.expiry),
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def decode(name: str, entry: Entry, secret: bytes) -> Active | None:
    """The token an item holds, if it is well formed and made for this account as configured."""
    try:
        doc = json.loads(secret)
        ok = (
            isinstance(doc, dict)
            and doc.get("format") == FORMAT
            and doc.get("account") == name
            and doc.get("config") == config_digest(entry)
            and isinstance(doc.get("access_token"), str)
            and isinstance(doc.get("refresh_token"), str | None)
        )
        if not ok:
            return None
        obtained, expiry = float(doc["obtained"]), float(doc["expiry"])
    except (ValueError, TypeError, KeyError):
        return None
    if not (0 < obtained < 2.0**53 and 0 < expiry < 2.0**53):
        return None
    tok = Active(doc["access_token"], from_wall(obtained), from_wall(expiry), doc["refresh_token"])
    if tok.refresh_token is None and tok.expiry <= now():
        return None  # nothing left to resume: expired, and no way to refresh it
    return tok


def _fingerprint(tok: Active) -> tuple[str, str | None, float]:
    # What the item holds; bookkeeping (ongoing_refresh, failure counts) is not stored.
    return (tok.access_token, tok.refresh_token, tok.expiry)


class Persistence:
    """The keyring duty. Inert unless the config says ``token_store = "keyring"``."""

    def __init__(self, store: Store, service: SecretService) -> None:
        self._store = store
        self._service = service
        self._ops: dict[str, Op] = {}
        self._written: dict[str, tuple[str, str | None, float]] = {}
        self._saved: dict[str, float] = {}  # wall times of the last write
        self._resumed: dict[str, float] = {}
        self._failing: dict[str, float] = {}  # accounts whose last try failed, since when
        self._warned: str | None = None  # the last problem logged, so it is said once
        self._wake = asyncio.Event()
        self.settled = asyncio.Event()
        """Set once the first pass (the resume at start) has been tried."""
        self._tasks = Tasks()
        self._watching = False
        if self.enabled(store.config):
            self._ops = dict.fromkeys(store.names(), "resume")

    @staticmethod
    def enabled(config: Config) -> bool:
        return config.token_store == "keyring"

    def start(self) -> None:
        if not self._ops:
            self.settled.set()
        self._tasks.spawn(self._run(), name="keyring")
        self._wake.set()

    async def stop(self) -> None:
        await self._tasks.stop()
        await self._service.close()

    def _changed(self) -> None:
        # The keyring may have become usable (a new service, a collection unlocked).
        if self._failing:
            self._wake.set()

    # ---- What the store tells us ----

    def account_changed(self, name: str, old: Entry | None, new: Entry | None) -> None:
        if not self.enabled(self._store.config):
            return
        if new is None:
            self._saved.pop(name, None)
            self._resumed.pop(name, None)
            self._queue(name, "delete")
        elif isinstance(new.token, Active):
            self._queue(name, "write")
        elif old is not None and (
            isinstance(old.token, Active)
            or old.account.security_fields() != new.account.security_fields()
        ):
            self._saved.pop(name, None)
            self._resumed.pop(name, None)
            self._queue(name, "delete")

    def reconfigured(self, old: Config, new: Config) -> None:
        if self.enabled(old) == self.enabled(new):
            return
        if self.enabled(new):  # switched on: keep what we hold, look for what we may resume
            for name, entry in self._store:
                self._queue(name, "write" if isinstance(entry.token, Active) else "resume")
        else:  # switched off: the person no longer wants tokens kept there
            for name in {*self._store.names(), *self._saved}:
                self._queue(name, "delete")
            self._saved.clear()
            self._resumed.clear()

    def _queue(self, name: str, op: Op) -> None:
        # The latest wish wins: a token in hand beats one to resume (writing replaces the
        # item), and a deletion beats an earlier write.
        self._ops[name] = op
        self._wake.set()

    # ---- For status ----

    def times(self, name: str) -> dict[str, int]:
        """The keyring times for ``status`` (whole Unix seconds)."""
        out: dict[str, int] = {}
        if name in self._saved:
            out["keyring_saved"] = int(self._saved[name])
        if name in self._resumed:
            out["keyring_resumed"] = int(self._resumed[name])
        if name in self._failing and self.enabled(self._store.config):
            out["keyring_unsaved"] = int(self._failing[name])
        return out

    # ---- The work ----

    async def _run(self) -> None:
        while True:
            await wait_woken(self._wake, KEYRING_RETRY if self._failing else None)
            self._wake.clear()
            await self._pass()
            self.settled.set()

    async def _pass(self) -> None:
        ops, self._ops = self._ops, {}
        if not ops:
            return
        if not self._watching:
            try:
                await self._service.watch(self._changed)
                self._watching = True
            except KeyringError as e:
                log.debug("Not watching the keyring for changes: %s", e)
        try:
            collection = await self._service.default_collection()
            while ops:
                name, op = next(iter(ops.items()))
                await self._do(collection, name, op)
                del ops[name]
        except KeyringError as e:
            for name, op in ops.items():
                self._ops.setdefault(name, op)  # a newer op queued meanwhile wins
            self._failed(str(e), sorted(ops))
            return
        if self._failing or self._warned:
            log.warning("The keyring is usable again: tokens are kept there from now on")
        self._failing.clear()
        self._warned = None

    def _failed(self, problem: str, names: list[str]) -> None:
        t = time.time()
        for name in names:
            self._failing.setdefault(name, t)
        if problem != self._warned:
            self._warned = problem
            log.warning(
                "Tokens of account(s) %s are kept in memory only, not in the keyring: %s",
                ", ".join(names),
                problem,
            )
        self._service.forget_session()

    async def _do(self, collection: str, name: str, op: Op) -> None:
        if op == "delete" or not self.enabled(self._store.config):
            await self._delete(name)
            return
        try:
            entry = self._store.get(name)
        except UnknownAccountError:  # removed by a reload since the op was queued
            await self._delete(name)
            return
        if op == "resume":
            await self._resume(name, entry)
        elif isinstance(entry.token, Active):
            await self._write(collection, name, entry, entry.token)

    async def _items(self, name: str) -> list[str]:
        unlocked, locked = await self._service.search(attributes(name))
        if locked:
            raise KeyringError(
                "the keyring collection holding them is locked (unlock it in your keyring manager)"
            )
        return unlocked

    async def _delete(self, name: str) -> None:
        for item in await self._items(name):
            await self._service.delete(item)
            log.info("Removed the keyring item of account %s", name)
        self._written.pop(name, None)
        self._failing.pop(name, None)

    async def _write(self, collection: str, name: str, entry: Entry, tok: Active) -> None:
        if self._written.get(name) == _fingerprint(tok):
            return
        secret = encode(name, entry, tok)
        await self._service.write(collection, f"pizauth: account {name}", attributes(name), secret)
        self._written[name] = _fingerprint(tok)
        self._saved[name] = time.time()
        self._failing.pop(name, None)
        log.info("Saved the tokens of account %s in the keyring", name)

    async def _resume(self, name: str, entry: Entry) -> None:
        items = await self._items(name)
        for item in items:
            secret = await self._service.read(item)
            entry = self._store.get(name)  # reading took time: look again
            if isinstance(entry.token, Active):
                return  # a token arrived meanwhile; its own write replaces the item
            tok = decode(name, entry, secret)
            if tok is None:
                log.info("The keyring item of account %s is stale: removing it", name)
                await self._service.delete(item)
                continue
            self._written[name] = _fingerprint(tok)
            self._saved[name] = self._resumed[name] = time.time()
            self._store.restore(name, tok)
            log.info("Resumed account %s from the keyring", name)
            return
