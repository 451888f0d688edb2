"""The server's HTTP client for token endpoints: a pool per provider, answers of bounded size.

Each provider (the scheme, host and port of an endpoint) gets its own session and so its own
pool of connections. aiohttp's pool holds 100 connections; shared, 110 accounts at a provider
that answers a byte a second held up every other provider's requests by half a minute.

Every request to a provider goes through :func:`post`: redirects are followed as upstream's
HTTP client follows them, and the answer is read only up to :data:`MAX_RESPONSE_BYTES`,
decompressed size included. aiohttp's own decompression has no such limit (a gzip "bomb" of a
few kilobytes becomes gigabytes in memory), so the session is made without it and the body is
inflated here with zlib, stopping at the limit.

Every request goes through the proxy the standard variables name (:mod:`pizauth_dbus.proxyenv`),
as upstream's HTTP client does. aiohttp's own ``trust_env`` is not used: it ignores
``all_proxy`` and would also send ``~/.netrc`` passwords to the token endpoint.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pizauth_dbus.errors import error_text
from pizauth_dbus.proxyenv import proxy_for, redact
from pizauth_dbus.timing import HTTP_TIMEOUT
from pizauth_dbus.urls import normalise

if TYPE_CHECKING:  # imported with the first session: a server start need not wait for it
    import aiohttp

MAX_RESPONSE_BYTES = 1 << 20
"""A token endpoint's answer is a few kilobytes; 1 MiB (after decompression) is plenty."""
MAX_REDIRECTS = 10
"""Redirects followed per request (upstream's HTTP client's default)."""
_READ_CHUNK = 64 * 1024
log = logging.getLogger(__name__)
_warned_ignored: set[str] = set()


class BadAnswer(Exception):
    """An answer came back, but not one that can be used. It is an answer all the same: the
    provider had the request, so a code exchange must not send its code again."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
        """The answer's HTTP status; 0 when its status line could not be read."""


class ResponseTooLarge(BadAnswer):
    """The answer is larger than :data:`MAX_RESPONSE_BYTES`."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the answer is larger than {MAX_RESPONSE_BYTES // 1024} KiB", status)


class UnreadableAnswer(BadAnswer):
    """The answer could not be read: a malformed status line or header, a body cut short or
    that did not arrive in time, compressed data that does not inflate."""

    def __init__(self, reason: BaseException | str, status: int = 0) -> None:
        text = reason if isinstance(reason, str) else error_text(reason)
        super().__init__(f"the answer could not be read ({text})", status)


Sessions = Callable[[str], "aiohttp.ClientSession"]
"""What the duties get: the session for a request to the given URI."""


class HttpClient:
    """The HTTP client sessions of a server, one per provider, each made on first use (a
    session needs the running loop)."""

    def __init__(self) -> None:
        self._sessions: dict[tuple[str, str, int | None], aiohttp.ClientSession] = {}

    def session(self, uri: str) -> aiohttp.ClientSession:
        """The session for requests to ``uri``'s provider (its scheme, host and port)."""
        try:
            parts = urlsplit(uri)
            key = (parts.scheme.lower(), (parts.hostname or "").lower(), parts.port)
        except ValueError:  # a port out of range: aiohttp refuses the request itself
            key = ("", uri, None)
        session = self._sessions.get(key)
        if session is None:
            session = self._sessions[key] = new_session()
        return session

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()


def new_session() -> aiohttp.ClientSession:
    """A session whose bodies arrive as sent (see the module docstring)."""
    import aiohttp

    return aiohttp.ClientSession(auto_decompress=False)


async def post(
    session: aiohttp.ClientSession, uri: str, form: list[tuple[str, str]]
) -> tuple[int, bytes]:
    """POST ``form`` and return the status and the (decompressed) body.

    Redirects are followed as upstream's client follows them: at most 10; a 307 or 308 repeats
    the POST with its form, a 301, 302 or 303 turns it into a GET without one.

    :raises ResponseTooLarge: when the body is over the limit, compressed or not.
    :raises UnreadableAnswer: when an answer came back that cannot be read.
    :raises aiohttp.ClientError, TimeoutError, OSError: as aiohttp raises them, when no
        answer came back (and for too many redirects, as upstream's client counts those).
    """
    import aiohttp

    # As the config check and upstream read it (``http:host`` is ``http://host/``), not as
    # aiohttp's own URL parser would.
    uri = normalise(uri)
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT)
    proxy, proxy_auth = _proxy(uri)
    # aiohttp gives up when it receives its max_redirects-th redirect; upstream's client
    # follows that many and gives up at the next one.
    try:
        async with session.post(
            uri,
            data=form,
            timeout=timeout,
            allow_redirects=True,
            max_redirects=MAX_REDIRECTS + 1,
            headers={"Accept-Encoding": "gzip, deflate"},
            proxy=proxy,
            proxy_auth=proxy_auth,
        ) as resp:
            try:
                raw = bytearray()
                async for chunk in resp.content.iter_chunked(_READ_CHUNK):
                    raw += chunk
                    if len(raw) > MAX_RESPONSE_BYTES:
                        raise ResponseTooLarge(resp.status)
                encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
                return resp.status, _inflate(bytes(raw), encoding, resp.status)
            except (aiohttp.ClientError, TimeoutError, OSError) as e:  # the head had come
                raise UnreadableAnswer(e, resp.status) from None
    except aiohttp.TooManyRedirects:
        raise
    except aiohttp.ClientResponseError as e:  # bytes came back, but no HTTP head
        raise UnreadableAnswer(e.message or e) from None


def _proxy(uri: str) -> tuple[str | None, aiohttp.BasicAuth | None]:
    """The proxy for ``uri`` and its credentials (aiohttp wants them apart), read afresh for
    every request so that a server whose environment was updated needs no restart. The
    choice holds for the redirects the request follows too."""
    import aiohttp
    from yarl import URL

    choice = proxy_for(uri)
    if choice.ignored is not None and choice.ignored not in _warned_ignored:
        _warned_ignored.add(choice.ignored)
        log.warning(
            "Ignoring the proxy %s: only http:// and https:// proxies are supported; "
            "requests go direct",
            redact(choice.ignored),
        )
    if choice.url is None:
        return None, None
    url = URL(choice.url)
    if url.user is None:
        return choice.url, None
    auth = aiohttp.BasicAuth(url.user, url.password or "")
    return str(url.with_user(None)), auth


def _inflate(raw: bytes, encoding: str, status: int) -> bytes:
    """``raw`` decoded as ``encoding`` says, never to more than the limit.

    :raises ResponseTooLarge: when it would inflate past the limit.
    :raises aiohttp.ClientPayloadError: for an encoding we did not offer, or corrupt data.
    """
    import aiohttp

    if encoding in ("", "identity"):
        return raw
    if encoding in ("gzip", "x-gzip"):
        candidates = [16 + zlib.MAX_WBITS]
    elif encoding == "deflate":  # zlib-wrapped, as the standard says, or raw, as some send it
        candidates = [zlib.MAX_WBITS, -zlib.MAX_WBITS]
    else:
        raise aiohttp.ClientPayloadError(f"unsupported Content-Encoding '{encoding}'")
    for wbits in candidates:
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(raw, MAX_RESPONSE_BYTES + 1)
        except zlib.error:
            continue
        if len(out) > MAX_RESPONSE_BYTES or inflater.unconsumed_tail:
            raise ResponseTooLarge(status)
        return out
    raise aiohttp.ClientPayloadError(f"corrupt {encoding} data")
