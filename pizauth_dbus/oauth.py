"""OAuth2 on the wire: the authorisation URL with PKCE, the code exchange and the refresh.

This module knows the protocol and upstream's error classes (which failures are transient and
which are permanent); it holds no state. The daemon decides what a result does to an account.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, quote_plus, urlencode, urlsplit, urlunsplit

import aiohttp

from pizauth_dbus.config import Account

STATE_BYTES = 32
"""Random bytes in the ``state`` parameter (43 characters once encoded), as upstream 1.1."""
CODE_VERIFIER_BYTES = 64
"""Random bytes in the PKCE verifier (86 characters once encoded; RFC 7636 allows 43-128)."""


def _seconds_from_env(name: str, default: float) -> float:
    # The test suite shortens upstream's long network waits through these variables; a user has
    # no reason to set them, but they are documented in pizauth(1).
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


HTTP_TIMEOUT = _seconds_from_env("PIZAUTH_HTTP_TIMEOUT", 30.0)
"""Whole-request timeout for every POST to a token endpoint (upstream: 30 s)."""
EXCHANGE_ATTEMPTS = 10
"""A code exchange that gets no HTTP answer is tried this many times (upstream: 10)."""
EXCHANGE_RETRY_GAP = _seconds_from_env("PIZAUTH_EXCHANGE_RETRY_GAP", 6.0)
"""Seconds between those tries (upstream: 6 s)."""
TRANSIENT_HTTP_CODES = frozenset({408, 429, 500, 502, 503, 504})
"""Refresh answers that mean "try again later" rather than "this grant is dead"."""


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class AuthRequest:
    """A fresh authorisation request: what goes into a Pending state."""

    url: str
    state: str
    code_verifier: str
    redirect_uri: str


def redirect_uri_with_port(account: Account, http_port: int | None, https_port: int | None) -> str:
    """The account's redirect URI with its port replaced by the listener's that will receive it."""
    parts = urlsplit(account.redirect_uri)
    use_https = https_port is not None and account.redirect_uri.lower().startswith("https")
    port = https_port if use_https else http_port
    host = parts.hostname or "localhost"
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    path = parts.path or "/"
    return urlunsplit(SplitResult(parts.scheme, netloc, path, parts.query, ""))


def new_auth_request(account: Account, redirect_uri: str) -> AuthRequest:
    """Make a new state, PKCE verifier and authorisation URL in upstream's parameter order."""
    state = _b64url(secrets.token_bytes(STATE_BYTES))
    verifier = _b64url(secrets.token_bytes(CODE_VERIFIER_BYTES))
    challenge = _b64url(hashlib.sha256(verifier.encode("ascii")).digest())
    params: list[tuple[str, str]] = [
        ("access_type", "offline"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("client_id", account.client_id),
        ("redirect_uri", redirect_uri),
        ("response_type", "code"),
        ("state", state),
    ]
    if account.scopes:
        params.append(("scope", " ".join(account.scopes)))
    params.extend(account.auth_uri_fields)
    # Append to any query the provider's URI already has, form-encoded (space becomes '+').
    sep = (
        "&" if urlsplit(account.auth_uri).query else ("" if account.auth_uri.endswith("?") else "?")
    )
    url = account.auth_uri + sep + urlencode(params, quote_via=quote_plus)
    return AuthRequest(url, state, verifier, redirect_uri)


class Missing:
    """Marks a refresh response that has no ``refresh_token`` key at all."""


MISSING = Missing()


@dataclass(frozen=True)
class TokenResponse:
    """The parts of a successful token endpoint answer that pizauth uses."""

    access_token: str
    expires_in: int
    # str: a new refresh token; None: the key was there but not a string; MISSING: no key.
    refresh_token: str | Missing | None


class OAuthError(Exception):
    """A token request failed; ``transient`` says whether a later retry may succeed."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def _describe_http_error(status: int, body: bytes) -> str:
    """``HTTP code <n>`` as upstream, plus the provider's own words when it sent any."""
    msg = f"HTTP code {status}"
    try:
        data = json.loads(body)
    except ValueError:
        return msg
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        msg += f" ({data['error']}"
        if isinstance(data.get("error_description"), str):
            msg += f": {data['error_description']}"
        msg += ")"
    return msg


def _parse_success(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as e:
        raise OAuthError(f"Invalid JSON: {e}") from None
    if not isinstance(data, dict):
        raise OAuthError("Received JSON in unexpected format")
    if isinstance(data.get("error"), str):
        desc = data.get("error_description")
        raise OAuthError(data["error"] + (f": {desc}" if isinstance(desc, str) else ""))
    return data


def _token_response(data: dict[str, Any], bad_format: str) -> TokenResponse:
    token_type, access_token, expires_in = (
        data.get("token_type"),
        data.get("access_token"),
        data.get("expires_in"),
    )
    # RFC 6749 says token_type is case-insensitive; upstream insists on "Bearer" exactly.
    if (
        not isinstance(token_type, str)
        or token_type.lower() != "bearer"
        or not isinstance(access_token, str)
        or isinstance(expires_in, bool)
        or not isinstance(expires_in, int)
        or expires_in < 0
    ):
        raise OAuthError(bad_format)
    rt = data.get("refresh_token", MISSING)
    refresh_token: str | Missing | None = rt if isinstance(rt, str | Missing) else None
    return TokenResponse(access_token, expires_in, refresh_token)


async def _post(
    session: aiohttp.ClientSession, uri: str, form: list[tuple[str, str]]
) -> tuple[int, bytes]:
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT)
    async with session.post(uri, data=form, timeout=timeout, allow_redirects=False) as resp:
        return resp.status, await resp.read()


async def exchange_code(
    session: aiohttp.ClientSession, account: Account, code: str, verifier: str, redirect_uri: str
) -> TokenResponse:
    """Trade an authorisation code for tokens.

    :raises OAuthError: with the message a person sees in ``error_notify_cmd`` and the log.
    """
    form = [
        ("code", code),
        ("client_id", account.client_id),
        ("code_verifier", verifier),
        ("redirect_uri", redirect_uri),
        ("grant_type", "authorization_code"),
    ]
    if account.client_secret is not None:
        form.append(("client_secret", account.client_secret))
    for attempt in range(EXCHANGE_ATTEMPTS):
        try:
            status, body = await _post(session, account.token_uri, form)
            break
        except (aiohttp.ClientError, TimeoutError, OSError):
            # No HTTP answer at all: the provider may not have seen the code, so try again.
            if attempt + 1 < EXCHANGE_ATTEMPTS:
                await asyncio.sleep(EXCHANGE_RETRY_GAP)
    else:
        raise OAuthError(f"couldn't connect to {account.token_uri}")
    if not 200 <= status < 300:
        raise OAuthError(_describe_http_error(status, body))
    return _token_response(_parse_success(body), "invalid response received")


async def refresh_token(
    session: aiohttp.ClientSession, account: Account, token: str
) -> TokenResponse:
    """Trade a refresh token for a new access token.

    :raises OAuthError: ``transient`` for network trouble and HTTP 408/429/5xx, else permanent.
    """
    form = [
        ("client_id", account.client_id),
        ("refresh_token", token),
        ("grant_type", "refresh_token"),
    ]
    if account.client_secret is not None:
        form.append(("client_secret", account.client_secret))
    try:
        status, body = await _post(session, account.token_uri, form)
    except TimeoutError:
        raise OAuthError(f"timed out after {HTTP_TIMEOUT:g}s", transient=True) from None
    except (aiohttp.ClientError, OSError) as e:
        raise OAuthError(str(e) or type(e).__name__, transient=True) from None
    if not 200 <= status < 300:
        raise OAuthError(
            _describe_http_error(status, body), transient=status in TRANSIENT_HTTP_CODES
        )
    try:
        data = _parse_success(body)
    except OAuthError as e:
        raise OAuthError(f"Refreshing {account.name} failed: {e}") from None
    return _token_response(data, "Received JSON in unexpected format")
