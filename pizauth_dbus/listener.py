"""The redirect listeners: where the browser lands after the person authorises.

One aiohttp application, served over HTTP and/or HTTPS on loopback. This module owns the
decision sequence upstream pizauth applies to a redirect (and its status codes); what a redirect
does to an account is left to the :class:`RedirectTarget` (the daemon).
"""

from __future__ import annotations

import html
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

from pizauth_dbus.state import Entry, Pending, Store

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 16 * 1024
"""Upstream caps a redirect request at 16 KiB; a real redirect is far smaller."""
KEEPALIVE_SECONDS = 5.0
"""An idle browser connection is closed after this long: nobody needs to keep it open."""


class RedirectTarget(Protocol):
    """What the listener needs from the daemon."""

    store: Store

    def authorisation_failed(self, name: str, entry: Entry, message: str) -> None:
        """The provider redirected with an ``error``: the account goes back to Empty."""

    def code_received(self, name: str, entry: Entry, code: str) -> None:
        """The provider redirected with a code: exchange it (in the background)."""


@dataclass(frozen=True)
class Page:
    """What the listener answers: a status and a small HTML page (empty for 404)."""

    status: int
    title: str = ""
    message: str = ""

    def response(self) -> web.Response:
        if not self.title:
            return web.Response(status=self.status)
        body = _PAGE.format(
            title=html.escape(self.title),
            message=html.escape(self.message),
            tone="ok" if self.status == 200 and "processing" in self.message else "problem",
        )
        return web.Response(status=self.status, text=body, content_type="text/html")


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pizauth: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f4f5f7; color: #1d1f23; margin: 0; }}
main {{ max-width: 34rem; margin: 12vh auto; background: #fff; padding: 2rem 2.5rem;
        border-radius: 12px; box-shadow: 0 2px 12px rgba(0,0,0,.08); }}
h1 {{ font-size: 1.4rem; margin-top: 0; }}
.ok h1 {{ color: #1a7f37; }} .problem h1 {{ color: #b42318; }}
p {{ line-height: 1.5; }}
</style></head>
<body class="{tone}"><main><h1>{title}</h1><p>{message}</p></main></body></html>
"""

SUCCESS = "pizauth processing authentication: you can safely close this page."
NO_MATCH = "No pending token matches request state: request a fresh token"


def _url_matches(expected: str, actual: str) -> bool:
    """Same scheme, host, port and path; no fragment; every expected query pair present."""
    e, a = urlsplit(expected), urlsplit(actual)
    try:
        e_port, a_port = e.port, a.port
    except ValueError:
        return False
    if (e.scheme.lower(), e.hostname, e_port, e.path or "/") != (
        a.scheme.lower(),
        a.hostname,
        a_port,
        a.path or "/",
    ):
        return False
    if a.fragment:
        return False
    actual_pairs = parse_qsl(a.query, keep_blank_values=True)
    return all(p in actual_pairs for p in parse_qsl(e.query, keep_blank_values=True))


def decide(target: RedirectTarget, url: str) -> Page:
    """Apply upstream's decision sequence to a redirect that arrived as ``url``."""
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    state = query.get("state")
    if state is None:
        return Page(404)  # favicon.ico, stray paths
    found = target.store.find_pending(state)
    if found is None:
        return Page(200, "Nothing to do", NO_MATCH)
    name, entry = found
    assert isinstance(entry.token, Pending)
    if not _url_matches(entry.token.redirect_uri, url):
        return Page(404)
    if "error" in query:
        error = query["error"]
        detail = query.get("error_description")
        msg = f"Authentication for {name} failed: {error}"
        if detail:
            msg += f" ({detail})"
        target.authorisation_failed(name, entry, msg)
        return Page(400, "Authorisation failed", msg)
    code = query.get("code")
    if code is None:
        return Page(400, "Authorisation incomplete", "The provider sent no authorisation code.")
    target.code_received(name, entry, code)
    return Page(200, "Authorisation received", SUCCESS)


@web.middleware
async def _limit_size(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    size = len(request.raw_path) + sum(len(k) + len(v) + 4 for k, v in request.raw_headers)
    if size > MAX_REQUEST_BYTES:
        return web.Response(status=400)
    return await handler(request)


class Listeners:
    """The HTTP and HTTPS redirect listeners; a port is ``None`` when that listener is off."""

    def __init__(self, target: RedirectTarget) -> None:
        self._target = target
        self._runner: web.AppRunner | None = None
        self.http_port: int | None = None
        self.https_port: int | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        scheme = (
            "https"
            if request.transport and request.transport.get_extra_info("sslcontext")
            else "http"
        )
        hosts = request.headers.getall("Host", [])
        if len(hosts) != 1:
            return web.Response(status=400)
        return decide(self._target, f"{scheme}://{hosts[0]}{request.raw_path}").response()

    async def start(self, http: str | None, https: str | None, tls: ssl.SSLContext | None) -> None:
        """Bind the listeners (``host:port`` strings, ``None`` for off).

        :raises OSError: when an address cannot be bound.
        """
        app = web.Application(middlewares=[_limit_size])
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=KEEPALIVE_SECONDS,
            max_line_size=MAX_REQUEST_BYTES,
            max_field_size=MAX_REQUEST_BYTES,
        )
        await self._runner.setup()
        if http is not None:
            self.http_port = await self._bind(http, None)
        if https is not None:
            self.https_port = await self._bind(https, tls)

    async def _bind(self, address: str, tls: ssl.SSLContext | None) -> int:
        assert self._runner is not None
        host, _, port = address.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        site = web.TCPSite(self._runner, host, int(port), ssl_context=tls)
        await site.start()
        server = site._server
        assert server is not None and hasattr(server, "sockets")
        bound: int = server.sockets[0].getsockname()[1]
        return bound

    async def stop(self) -> None:
        """Close both listeners."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
