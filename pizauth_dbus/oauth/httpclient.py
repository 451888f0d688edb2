"""The server's HTTP client for token endpoints: one session, and answers of bounded size.

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
from typing import TYPE_CHECKING

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


class ResponseTooLarge(Exception):
    """The answer is larger than :data:`MAX_RESPONSE_BYTES`; ``status`` is its HTTP status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the answer is larger than {MAX_RESPONSE_BYTES // 1024} KiB")
        self.status = status


class HttpClient:
    """The one HTTP client session of a server, made on first use (it needs the running loop)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = new_session()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


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
    :raises aiohttp.ClientError, TimeoutError, OSError: as aiohttp raises them.
    """
    import aiohttp

    # As the config check and upstream read it (``http:host`` is ``http://host/``), not as
    # aiohttp's own URL parser would.
    uri = normalise(uri)
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT)
    proxy, proxy_auth = _proxy(uri)
    # aiohttp gives up when it receives its max_redirects-th redirect; upstream's client
    # follows that many and gives up at the next one.
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
        raw = bytearray()
        async for chunk in resp.content.iter_chunked(_READ_CHUNK):
            raw += chunk
            if len(raw) > MAX_RESPONSE_BYTES:
                raise ResponseTooLarge(resp.status)
        encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
        return resp.status, _inflate(bytes(raw), encoding, resp.status)


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
