"""The device authorization grant (RFC 8628): device codes, and polling for the token.

This module owns an account's :class:`~pizauth_dbus.server.state.DeviceWaiting` state, for accounts
with ``device_auth_uri``: asking the provider for a device code (the client id, the secret as
the other token requests send it, the scopes), then polling the token endpoint until the person
has entered the code on any device. It polls at the provider's ``interval`` (5 s when it names
none), 5 s more after every ``slow_down``, twice as long after a transport failure, and keeps
going on ``authorization_pending``. ``access_denied`` and every other refusal end the attempt
and are reported as a failed redirect is (:meth:`Authoriser.report`); ``expired_token``, or the
code's ``expires_in`` passing, end it quietly, and the next ``show`` asks for a new code.

Polling stops as soon as the account changes under it (a revoke, a reload that removes or
changes it, a new code, a restored token: :meth:`DeviceFlow.account_changed`) and when the
server stops. Every write goes through the version stamp, as elsewhere.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pizauth_dbus import urls
from pizauth_dbus.config.model import Account
from pizauth_dbus.errors import DeviceAuthorisationError
from pizauth_dbus.oauth import protocol as oauth
from pizauth_dbus.oauth.httpclient import ResponseTooLarge, post
from pizauth_dbus.server.authorisation import Authoriser
from pizauth_dbus.server.events import Eventer, TokenEvent
from pizauth_dbus.server.state import Active, DeviceWaiting, Empty, Entry, Store, expiry_after, now
from pizauth_dbus.server.tasks import Tasks

# aiohttp is imported once the listeners are bound (see pizauth_dbus.server.process)
if TYPE_CHECKING:
    import aiohttp

from pizauth_dbus.timing import (
    DEVICE_BACKOFF_MAX,
    DEVICE_INTERVAL,
    DEVICE_INTERVAL_MIN,
    DEVICE_REQUEST_TIMEOUT,
    DEVICE_SLOW_DOWN,
)

log = logging.getLogger(__name__)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
USER_CODE_MAX = 64
"""A user code is typed by a person (RFC 8628 suggests 8 characters); longer is not one."""
URI_MAX = 2048
"""A verification URI is shown and opened; no real one is longer."""


@dataclass(frozen=True)
class DeviceCode:
    """A provider's answer to a device authorization request (RFC 8628 section 3.2)."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: float | None


class Wait(enum.Enum):
    """A poll's answer that means: poll again later."""

    PENDING = "authorization_pending"
    SLOW_DOWN = "slow_down"
    EXPIRED = "expired_token"
    TRANSIENT = "transient"


def _text(data: dict[str, Any], key: str, longest: int) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value or len(value) > longest or not value.isprintable():
        raise oauth.OAuthError(f"the device authorisation answer has no valid '{key}'")
    return value


def _uri(data: dict[str, Any], *keys: str) -> str | None:
    """The first of ``keys`` that is present, checked as a URL to send a person to."""
    for key in keys:
        if key in data:
            value = data[key]
            if not isinstance(value, str) or len(value) > URI_MAX or not urls.is_web_url(value):
                raise oauth.OAuthError(
                    f"the device authorisation answer's '{key}' is not an http or https URL"
                )
            return value
    return None


def parse_device_code(data: Any) -> DeviceCode:
    """The device code in a provider's JSON answer.

    Google names ``verification_uri`` ``verification_url``; Microsoft sends no
    ``verification_uri_complete`` and adds a ``message`` (ignored: pizauth says it its own way).

    :raises OAuthError: naming what is missing or wrong, or with the provider's own error.
    """
    if not isinstance(data, dict):
        raise oauth.OAuthError("the device authorisation answer is not a JSON object")
    words = oauth.provider_words(data)
    if words is not None:
        raise oauth.OAuthError(words)
    device_code = _text(data, "device_code", oauth.MAX_TOKEN_CHARS)
    user_code = _text(data, "user_code", USER_CODE_MAX)
    verification_uri = _uri(data, "verification_uri", "verification_url")
    if verification_uri is None:
        raise oauth.OAuthError("the device authorisation answer has no 'verification_uri'")
    complete = _uri(data, "verification_uri_complete")
    expires_in = data.get("expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
        raise oauth.OAuthError("the device authorisation answer has no valid 'expires_in'")
    interval = data.get("interval")
    if interval is not None and (
        isinstance(interval, bool)
        or not isinstance(interval, int | float)
        or not math.isfinite(interval)
        or interval < 0
    ):
        raise oauth.OAuthError("the device authorisation answer's 'interval' is not a number")
    return DeviceCode(device_code, user_code, verification_uri, complete, expires_in, interval)


async def request_device_code(session: aiohttp.ClientSession, account: Account) -> DeviceCode:
    """Ask the account's ``device_auth_uri`` for a device code (RFC 8628 section 3.1).

    :raises OAuthError: with what a person needs to know (the provider's error included).
    """
    import aiohttp

    uri = account.device_auth_uri
    assert uri is not None
    form = [("client_id", account.client_id)]
    if account.scopes:
        form.append(("scope", " ".join(account.scopes)))
    try:
        async with asyncio.timeout(DEVICE_REQUEST_TIMEOUT):
            status, body = await post(session, uri, oauth.with_secret(account, form))
    except ResponseTooLarge as e:
        raise oauth.OAuthError(f"{uri}: {e}") from None
    except TimeoutError:
        raise oauth.OAuthError(
            f"no answer from {uri} within {DEVICE_REQUEST_TIMEOUT:g} s"
        ) from None
    except (aiohttp.ClientError, OSError) as e:
        raise oauth.OAuthError(f"couldn't connect to {uri} ({e or type(e).__name__})") from None
    if not 200 <= status < 300:
        raise oauth.OAuthError(oauth.describe_http_error(status, body))
    try:
        data = oauth.parse_json(body)
    except ValueError as e:
        raise oauth.OAuthError(f"Invalid JSON: {e}") from None
    return parse_device_code(data)


async def poll_token(
    session: aiohttp.ClientSession, account: Account, device_code: str
) -> oauth.TokenResponse | Wait:
    """One poll of the token endpoint (RFC 8628 section 3.4).

    The error code decides, whatever the HTTP status (Google answers ``authorization_pending``
    with 428, ``slow_down`` with 403).

    :raises OAuthError: permanent: the person refused (``access_denied``), the grant is unknown,
        or the answer is unusable.
    """
    import aiohttp

    form = oauth.with_secret(
        account,
        [
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", account.client_id),
        ],
    )
    try:
        status, body = await post(session, account.token_uri, form)
    except ResponseTooLarge as e:
        if e.status in oauth.TRANSIENT_HTTP_CODES:
            return Wait.TRANSIENT
        raise oauth.OAuthError(f"{account.token_uri}: {e}") from None
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        log.info("Polling %s failed (%s); trying again later", account.token_uri, e or type(e))
        return Wait.TRANSIENT
    try:
        data = oauth.parse_json(body)
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    for wait in (Wait.PENDING, Wait.SLOW_DOWN, Wait.EXPIRED):
        if error == wait.value:
            return wait
    if 200 <= status < 300:
        return oauth.token_answer(body, "Invalid JSON: ", "", "invalid response received")
    if status in oauth.TRANSIENT_HTTP_CODES:
        log.info("Polling %s answered HTTP code %d; trying again later", account.token_uri, status)
        return Wait.TRANSIENT
    words = oauth.provider_words(data)
    raise oauth.OAuthError(words if words else oauth.describe_http_error(status, body))


class DeviceFlow:
    """Device codes for the accounts that use them, and their pollers (one per account).

    ``server.serve`` connects :meth:`account_changed` to ``Store.changed``.

    :param http: the server's HTTP client session.
    :param authoriser: reports failed attempts (log, ``error_notify_cmd``, desktop).
    """

    def __init__(
        self,
        store: Store,
        events: Eventer,
        http: Callable[[], aiohttp.ClientSession],
        authoriser: Authoriser,
    ) -> None:
        self._store = store
        self._events = events
        self._http = http
        self._authoriser = authoriser
        self._tasks = Tasks()
        # (account, version) -> the request under way for that version: two `show`s at once
        # share one device code instead of each replacing the other's.
        self._requests: dict[tuple[str, int], asyncio.Task[DeviceWaiting]] = {}
        # account -> (version of its DeviceWaiting entry, the task polling for it)
        self._pollers: dict[str, tuple[int, asyncio.Task[None]]] = {}

    async def stop(self) -> None:
        """Abandon requests and polling under way."""
        await self._tasks.stop()

    async def start(self, name: str, entry: Entry) -> DeviceWaiting:
        """A new device code for the account, replacing any it waits with, and its poller.

        :raises DeviceAuthorisationError: when the provider issues none; nothing changes then.
        """
        key = (name, entry.version)
        task = self._requests.get(key)
        if task is None:
            task = self._tasks.spawn(self._request(name, entry), name=f"device code {name}")
            self._requests[key] = task
            task.add_done_callback(lambda _: self._requests.pop(key, None))
        # Shielded: a caller that goes away must not cancel what other callers wait for.
        return await asyncio.shield(task)

    def account_changed(self, name: str, old: Entry | None, new: Entry | None) -> None:
        """Stop polling for an account that no longer waits with the code being polled for."""
        poller = self._pollers.get(name)
        if poller is not None and (new is None or new.version != poller[0]):
            del self._pollers[name]
            poller[1].cancel()
            log.info("Stopped polling for %s's device code", name)

    async def _request(self, name: str, entry: Entry) -> DeviceWaiting:
        try:
            code = await request_device_code(self._http(), entry.account)
        except Exception as e:
            if not isinstance(e, oauth.OAuthError):
                log.debug("The device code request for %s failed unexpectedly", name, exc_info=True)
                e = oauth.OAuthError(f"internal error ({type(e).__name__})")
            message = f"Can't get a device code for {name}: {e}"
            log.error("%s", message)
            self._authoriser.problems.note(entry.account, message, "device")
            raise DeviceAuthorisationError(message) from None
        cur = self._store.current(name, entry.version)
        if cur is None:
            raise DeviceAuthorisationError(
                f"{name} changed while a device code was being requested: try again"
            )
        waiting = DeviceWaiting(
            code.device_code,
            code.user_code,
            code.verification_uri,
            code.verification_uri_complete,
            now() + code.expires_in,
        )
        new = self._store.replace(name, cur.version, waiting)
        assert new is not None  # same version: nothing ran in between
        interval = DEVICE_INTERVAL if code.interval is None else code.interval
        poll = self._poll(name, new.version, max(DEVICE_INTERVAL_MIN, interval))
        self._pollers[name] = (new.version, self._tasks.spawn(poll, name=f"device poll {name}"))
        log.info("Device code for %s issued: to be entered at %s", name, code.verification_uri)
        return waiting

    def _finish(self, name: str, version: int, token: Empty | Active) -> bool:
        """End this poller's attempt with ``token``; False when the account moved on."""
        if self._pollers.get(name, (None,))[0] == version:
            del self._pollers[name]  # so that the change below does not cancel us
        return self._store.replace(name, version, token) is not None

    async def _poll(self, name: str, version: int, interval: float) -> None:
        while True:
            cur = self._store.current(name, version)
            if cur is None:
                return
            waiting = cur.token
            assert isinstance(waiting, DeviceWaiting)
            left = waiting.expires - now()
            if left <= 0:
                if self._finish(name, version, Empty()):
                    log.info("The device code for %s expired unused", name)
                return
            await asyncio.sleep(min(interval, left))
            cur = self._store.current(name, version)
            if cur is None or waiting.expires <= now():
                continue  # gone (the loop returns), or expired (the loop says so)
            try:
                answer = await poll_token(self._http(), cur.account, waiting.device_code)
            except Exception as e:
                if not isinstance(e, oauth.OAuthError):
                    log.debug("Polling for %s failed unexpectedly", name, exc_info=True)
                    e = oauth.OAuthError(f"internal error ({type(e).__name__})")
                if self._finish(name, version, Empty()):
                    self._authoriser.report(
                        name, f"Authentication for {name} failed: {e}", "device"
                    )
                return
            match answer:
                case Wait.PENDING:
                    pass
                case Wait.SLOW_DOWN:
                    interval += DEVICE_SLOW_DOWN
                    log.info("Polling for %s every %g s, as the provider asks", name, interval)
                case Wait.TRANSIENT:
                    interval = min(interval * 2, max(interval, DEVICE_BACKOFF_MAX))
                case Wait.EXPIRED:
                    if self._finish(name, version, Empty()):
                        log.info("The device code for %s expired unused", name)
                    return
                case oauth.TokenResponse() as resp:
                    cur = self._store.current(name, version)
                    if cur is None:
                        log.info("Discarding a token for %s: the account changed", name)
                        return
                    t = now()
                    rt = (
                        None
                        if isinstance(resp.refresh_token, oauth.Missing)
                        else resp.refresh_token
                    )
                    expiry = expiry_after(t, resp.expires_in, cur.account.refresh_at_least)
                    if self._finish(name, version, Active(resp.access_token, t, expiry, rt)):
                        log.info("New token for %s", name)
                        self._events.put(name, TokenEvent.NEW)
                    return
