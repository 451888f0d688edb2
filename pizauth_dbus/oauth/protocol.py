"""OAuth2 on the wire: the authorisation URL with PKCE, the code exchange and the refresh.

This module knows the protocol and which failures are transient and which are permanent; it
holds no state. The daemon decides what a result does to an account.

A refresh token is declared dead only by the provider's own OAuth error: an answer whose body
is JSON with an ``error`` (``invalid_grant``, ``invalid_client``, ...). Every other failure is
transient, so the token is kept and the refresh retried: a hotel's sign-in page answering with
HTML, a filtering proxy's bare 403 or 407, a TLS failure, a body that is not the JSON a token
endpoint sends. Upstream counts most of these as permanent, which empties the account and
forces a new sign-in whenever a captive portal intercepts a refresh.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pizauth_dbus import urls
from pizauth_dbus.config.model import Account
from pizauth_dbus.errors import error_text
from pizauth_dbus.oauth.httpclient import BadAnswer, post
from pizauth_dbus.timing import EXCHANGE_RETRY_GAP, HTTP_TIMEOUT

if TYPE_CHECKING:  # imported by the requests, so that building a URL needs no aiohttp
    import aiohttp

STATE_BYTES = 32
"""Random bytes in the ``state`` parameter (43 characters once encoded), as upstream 1.1."""
CODE_VERIFIER_BYTES = 64
"""Random bytes in the PKCE verifier (86 characters once encoded; RFC 7636 allows 43-128)."""
EXCHANGE_ATTEMPTS = 10
"""A code exchange that gets no HTTP answer is tried this many times (upstream: 10)."""
TRANSIENT_HTTP_CODES = frozenset({408, 429, 500, 502, 503, 504})
"""Refresh answers that mean "try again later", not "this grant is dead" (upstream 1.0.11),
even when they carry an OAuth error body."""
MAX_TOKEN_CHARS = 64 * 1024
"""Access and refresh tokens are a few kilobytes at most; a longer one is refused."""
EXPIRES_IN_MAX = 2**64 - 1
"""``expires_in`` must be an unsigned 64-bit integer, as upstream reads it."""


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


# What the WHATWG application/x-www-form-urlencoded serializer leaves alone. Python's quote_plus
# differs on '*' and '~'; using the standard's set keeps our URLs byte-identical to upstream's.
_FORM_SAFE = frozenset(b"*-._0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def form_encode(value: str) -> str:
    """Encode one name or value as an HTML form does: space to ``+``, the rest as ``%XX``."""
    out: list[str] = []
    for byte in value.encode("utf-8"):
        if byte in _FORM_SAFE:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


@dataclass(frozen=True)
class AuthRequest:
    """A fresh authorisation request: what goes into a Pending state."""

    url: str
    state: str
    code_verifier: str
    redirect_uri: str


def redirect_uri_with_port(account: Account, http_port: int | None, https_port: int | None) -> str:
    """The account's redirect URI with its port replaced by that of the listener receiving it.

    An ``https`` URI goes to the HTTPS listener when that one runs, anything else to the HTTP
    listener. The host is kept (the person's browser must resolve it to the listener); the URI
    is normalised as upstream's URL library does, so a listener on the scheme's default port
    gives ``http://localhost/`` with no port.
    """
    use_https = https_port is not None and account.redirect_uri.lower().startswith("https")
    return urls.with_port(account.redirect_uri, https_port if use_https else http_port)


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge for ``verifier`` (RFC 7636 section 4.2)."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def auth_url(account: Account, redirect_uri: str, state: str, challenge: str) -> str:
    """The authorisation URL, with upstream's parameters in upstream's order.

    They are appended to whatever query ``auth_uri`` already has; ``client_secret`` is never
    part of it (it would end up in the browser's history).
    """
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
    query = "&".join(f"{form_encode(k)}={form_encode(v)}" for k, v in params)
    base = urls.normalise(account.auth_uri)
    if "?" not in base:
        return f"{base}?{query}"
    # Like a URL library appending pairs: '&' unless the existing query is empty.
    return base + query if base.endswith("?") else f"{base}&{query}"


def new_auth_request(account: Account, redirect_uri: str) -> AuthRequest:
    """Make a new state, PKCE verifier and authorisation URL."""
    state = _b64url(secrets.token_bytes(STATE_BYTES))
    verifier = _b64url(secrets.token_bytes(CODE_VERIFIER_BYTES))
    url = auth_url(account, redirect_uri, state, pkce_challenge(verifier))
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


def provider_words(data: object) -> str | None:
    """``error`` (and ``error_description``) from a provider's JSON error body, if any."""
    if not isinstance(data, dict) or not isinstance(data.get("error"), str):
        return None
    words: str = data["error"]
    if isinstance(data.get("error_description"), str) and data["error_description"]:
        words += f": {data['error_description']}"
    return words


def describe_http_error(status: int, body: bytes) -> str:
    """``HTTP code <n>`` as upstream, plus the provider's own words when it sent any.

    Upstream never reads the body; but "invalid_grant: refresh token revoked" tells a person
    what to do where "HTTP code 400" does not.
    """
    msg = f"HTTP code {status}"
    try:
        words = provider_words(json.loads(body))
    except ValueError:
        return msg
    return f"{msg} ({words})" if words else msg


def parse_token_response(data: Any) -> TokenResponse | None:
    """The token response in ``data``, or ``None`` when its shape is wrong."""
    if not isinstance(data, dict):
        return None
    token_type, access_token, expires_in = (
        data.get("token_type"),
        data.get("access_token"),
        data.get("expires_in"),
    )
    # RFC 6749 section 5.1 says token_type is case-insensitive; upstream wants "Bearer" exactly,
    # which rejects providers that send "bearer".
    if (
        not isinstance(token_type, str)
        or token_type.lower() != "bearer"
        or not isinstance(access_token, str)
        or isinstance(expires_in, bool)
        or not isinstance(expires_in, int)
        or not 0 <= expires_in <= EXPIRES_IN_MAX
    ):
        return None
    rt = data.get("refresh_token", MISSING)
    refresh_token: str | Missing | None = rt if isinstance(rt, str | Missing) else None
    return TokenResponse(access_token, expires_in, refresh_token)


def with_secret(account: Account, form: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # client_secret_post: the secret travels in the body, after every other field (upstream).
    if account.client_secret is not None:
        form.append(("client_secret", account.client_secret))
    return form


async def exchange_code(
    session: aiohttp.ClientSession, account: Account, code: str, verifier: str, redirect_uri: str
) -> TokenResponse:
    """Trade an authorisation code for tokens.

    A request that gets no HTTP answer at all (connection refused, timeout) is tried again,
    :data:`EXCHANGE_ATTEMPTS` times in all; any answer is final, one that cannot be read
    included: the provider may have spent the code, which must then not be sent again.

    :raises OAuthError: with the message a person sees in ``error_notify_cmd`` and the log.
    """
    import aiohttp

    form = with_secret(
        account,
        [
            ("code", code),
            ("client_id", account.client_id),
            ("code_verifier", verifier),
            ("redirect_uri", redirect_uri),
            ("grant_type", "authorization_code"),
        ],
    )
    for attempt in range(EXCHANGE_ATTEMPTS):
        try:
            status, body = await post(session, account.token_uri, form)
            break
        except BadAnswer as e:  # an answer, and so final: the code may have been spent
            raise OAuthError(f"{account.token_uri}: {e}") from None
        except (aiohttp.ClientError, TimeoutError, OSError):
            if attempt + 1 < EXCHANGE_ATTEMPTS:
                await asyncio.sleep(EXCHANGE_RETRY_GAP)
    else:
        raise OAuthError(f"couldn't connect to {account.token_uri}")
    if not 200 <= status < 300:
        raise OAuthError(describe_http_error(status, body))
    return token_answer(body, "Invalid JSON: ", "", "invalid response received")


async def refresh_token(
    session: aiohttp.ClientSession, account: Account, token: str
) -> TokenResponse:
    """Trade a refresh token for a new access token. One attempt: the refresher retries.

    :raises OAuthError: permanent only for the provider's OAuth error (a JSON ``error``, with
        any status but 408, 429, 500, 502, 503 and 504); ``transient`` for everything else.
    """
    import aiohttp

    form = with_secret(
        account,
        [
            ("client_id", account.client_id),
            ("refresh_token", token),
            ("grant_type", "refresh_token"),
        ],
    )
    try:
        status, body = await post(session, account.token_uri, form)
    except BadAnswer as e:  # no token endpoint sends that: someone else answered, or a fault
        raise OAuthError(f"{account.token_uri}: {e}", transient=True) from None
    except TimeoutError:
        raise OAuthError(f"no answer within {HTTP_TIMEOUT:g} s", transient=True) from None
    except (aiohttp.ClientError, OSError) as e:  # the network, the proxy, TLS
        raise OAuthError(error_text(e), transient=True) from None
    if not 200 <= status < 300:
        transient = status in TRANSIENT_HTTP_CODES or oauth_error(body) is None
        raise OAuthError(describe_http_error(status, body), transient=transient)
    failed = f"Refreshing {account.name} failed: "
    try:
        return token_answer(body, failed, failed, "Received JSON in unexpected format")
    except OAuthError as e:
        # Only the provider's own error ends the refresh token; a page that is not a token
        # answer (a captive portal's HTML, say) leaves it to be tried again.
        raise OAuthError(str(e), transient=oauth_error(body) is None) from None


def oauth_error(body: bytes) -> str | None:
    """The provider's OAuth error in ``body`` (JSON with a string ``error``), or None."""
    try:
        return provider_words(parse_json(body))
    except ValueError:
        return None


def token_answer(body: bytes, bad_json: str, refused: str, bad_shape: str) -> TokenResponse:
    """The tokens in a successful answer, or a permanent error in upstream's words: ``bad_json``
    before the parser's message, ``refused`` before the provider's own error, ``bad_shape``
    when the fields are wrong (the exchange and the refresh word these differently)."""
    try:
        data = parse_json(body)
    except ValueError as e:
        raise OAuthError(f"{bad_json}{e}") from None
    words = provider_words(data)
    if words is not None:
        raise OAuthError(f"{refused}{words}")
    resp = parse_token_response(data)
    if resp is None:
        raise OAuthError(bad_shape)
    return _checked(resp)


def parse_json(body: bytes) -> Any:
    """The JSON in ``body``.

    :raises ValueError: when it is not JSON, or nests too deeply for the parser (which would
        otherwise raise RecursionError, an exception nobody expects from a token endpoint).
    """
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def token_problem(name: str, value: object) -> str | None:
    """What makes ``value`` unfit to be kept and served as the ``name`` (``access_token`` or
    ``refresh_token``), or None. The one check of a token, however it arrives: from a token
    endpoint, from the device flow, from ``restore``.

    A token is a string of at most :data:`MAX_TOKEN_CHARS` that a D-Bus string can carry:
    valid UTF-8 without NUL. One with a NUL or a lone surrogate would be kept, and every
    ``show`` of its account then fail for the token's whole lifetime.
    """
    if not isinstance(value, str):
        return f"the {name} is not a string"
    if len(value) > MAX_TOKEN_CHARS:
        return f"the {name} is longer than {MAX_TOKEN_CHARS // 1024} KiB"
    if "\x00" in value:
        return f"the {name} contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"the {name} is not valid Unicode"
    return None


def _checked(resp: TokenResponse) -> TokenResponse:
    """``resp``, unless a token in it fails :func:`token_problem`.

    :raises OAuthError: permanent, naming the token (never quoting it).
    """
    tokens = [("access_token", resp.access_token)]
    if isinstance(resp.refresh_token, str):
        tokens.append(("refresh_token", resp.refresh_token))
    for name, value in tokens:
        problem = token_problem(name, value)
        if problem is not None:
            raise OAuthError(problem)
    return resp
