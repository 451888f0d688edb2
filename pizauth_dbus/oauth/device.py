"""The device authorization grant (RFC 8628) on the wire: asking for a device code, one poll
of the token endpoint, and reading the provider's answers.

Stateless, as the other token requests in :mod:`pizauth_dbus.oauth.protocol`: the client id, the
secret as those requests send it, the scopes. What an answer does to an account, and when to poll
again, is :mod:`pizauth_dbus.server.device_flow`'s. The error code of an answer decides, whatever
the HTTP status, because providers differ there (Google answers ``authorization_pending`` with
428 and ``slow_down`` with 403).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pizauth_dbus import urls
from pizauth_dbus.config.model import Account
from pizauth_dbus.errors import error_text
from pizauth_dbus.oauth import protocol as oauth
from pizauth_dbus.oauth.httpclient import BadAnswer, ResponseTooLarge, UnreadableAnswer, post
from pizauth_dbus.timing import DEVICE_REQUEST_TIMEOUT

# aiohttp is imported once the listeners are bound (see pizauth_dbus.server.process)
if TYPE_CHECKING:
    import aiohttp

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
    except BadAnswer as e:
        raise oauth.OAuthError(f"{uri}: {e}") from None
    except TimeoutError:
        raise oauth.OAuthError(
            f"no answer from {uri} within {DEVICE_REQUEST_TIMEOUT:g} s"
        ) from None
    except (aiohttp.ClientError, OSError) as e:
        raise oauth.OAuthError(f"couldn't connect to {uri} ({error_text(e)})") from None
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
    except (UnreadableAnswer, aiohttp.ClientError, TimeoutError, OSError) as e:
        # The device code may be sent again (it is polled with until it expires).
        log.info("Polling %s failed (%s); trying again later", account.token_uri, error_text(e))
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
