"""The redirect listeners: the loopback sockets a browser's redirect arrives on, over HTTP
and/or HTTPS, and the limits on what a client may make them hold.

aiohttp's low-level server serves them; what a request means is
:func:`pizauth_dbus.server.redirects.decide`'s. The limits keep a local attacker from making
the server hold memory, descriptors or the real browser's turn: bytes per connection,
connections per listener counted from accept (TLS handshakes included, with a deadline of
their own), a deadline per connection that goes with it, and asyncio's accept errors reported
once a burst.

The sockets are bound at start, before the server takes its bus name; aiohttp (a third of a
start-up) is imported in a worker thread and serves them moments later, so that the first
``pizauth show`` of a session need not wait for it. A browser that connects meanwhile waits in
the socket's backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from aiohttp import web
    from aiohttp.web_protocol import RequestHandler

from pizauth_dbus.errors import error_text
from pizauth_dbus.server.redirects import BAD_REQUEST, RedirectTarget, decide
from pizauth_dbus.timing import (
    CONNECTION_TIMEOUT,
    HANDSHAKE_TIMEOUT,
    LISTENER_SHUTDOWN_TIMEOUT,
)

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 16 * 1024
"""Upstream caps a redirect request at 16 KiB; a real redirect is far smaller."""
MAX_CONNECTION_BYTES = 2 * MAX_REQUEST_BYTES
"""What one connection may send before it is cut: a request, its refusal's worth of slack."""
MAX_CONNECTIONS = 32
"""Open connections per listener; beyond that, stalled ones are closed (``_bounded_server``)."""
MAX_CONNECTIONS_HELD = 2 * MAX_CONNECTIONS
"""Open connections per listener, stalled or not: beyond that, the least advanced is closed."""
ACCEPT_BATCH = 8
"""Connections accepted in a go, before the first of them is counted."""
STALL_GRACE = 0.05
"""Seconds a connection that has not moved on is safe from being closed to make room: a
browser on the same machine gets through each step of a TLS handshake well within that."""


def request_size(request: web.BaseRequest) -> int:
    """The size of the request line and headers as they came over the wire (near enough)."""
    line = len(request.method) + len(request.raw_path) + len("  HTTP/1.1\r\n")
    return line + sum(len(k) + len(v) + 4 for k, v in request.raw_headers) + 2


def _drop(handler: RequestHandler, transport: asyncio.BaseTransport) -> None:
    """Close a connection now. A TLS transport's ordinary close waits (up to 30 s) for the
    client's close_notify, which an idle or hostile client never sends: abort instead."""
    if isinstance(transport, asyncio.Transport):
        transport.abort()
    handler.force_close()


def _strict_parser(handler: RequestHandler) -> None:
    """Parse the connection's request with aiohttp's pure-Python parser, not its C one.

    The C parser (llhttp, built lenient) accepts a request line with more than one space
    between its parts (``GET  /?code=...``); the Python parser, like upstream's, answers 400.
    A redirect listener sees one small request per sign-in, so speed does not matter here.
    """
    from aiohttp.http_parser import HttpRequestParserPy
    from aiohttp.web_protocol import RequestPayloadError

    parser = HttpRequestParserPy(
        handler,
        asyncio.get_running_loop(),
        2**16,
        max_line_size=MAX_REQUEST_BYTES,
        max_field_size=MAX_REQUEST_BYTES,
        payload_exception=RequestPayloadError,
    )
    # The handler's slot for its parser is `_parser` (declared by its base class) in newer
    # aiohttp releases, `_request_parser` in older ones; each release has exactly one of them
    # (the tests run on the lowest allowed release too).
    slots = {s for c in type(handler).__mro__ for s in getattr(c, "__slots__", ())}
    setattr(handler, "_parser" if "_parser" in slots else "_request_parser", parser)


ACCEPTED, ANSWERED, OPEN = 0, 1, 2
"""How far a connection got: accepted (its TLS handshake begun), its ClientHello answered,
its handshake done (a plain HTTP connection is open from its accept)."""


@dataclass
class _Open:
    """One accepted connection: its socket's transport, its deadline, how far it got."""

    transport: asyncio.Transport
    deadline: asyncio.TimerHandle
    stage: int
    since: float
    """When it reached ``stage`` (the loop's clock)."""


@functools.cache
def _bounded_server() -> Callable[..., BoundedServer]:
    """The class of aiohttp's low-level server that keeps at most :data:`MAX_CONNECTIONS`
    connections open, counted from accept (made on first use, so that importing this module
    imports no aiohttp).

    A connection beyond that closes others, those that got least far first: a TLS handshake
    whose ClientHello is not complete, then one waiting for the client's last step, then an
    open connection; the longest there of equals, and none that moved on in the last
    :data:`STALL_GRACE` unless :data:`MAX_CONNECTIONS_HELD` are open. A real browser goes
    through each step in milliseconds and sends its redirect at once, so a flood of stalled
    handshakes or idle connections can neither push it out nor pile up memory and descriptors.
    """
    from aiohttp import web
    from aiohttp.web_protocol import RequestHandler

    class CappedHandler(RequestHandler):
        """A connection whose bytes past :data:`MAX_CONNECTION_BYTES` are dropped unread:
        one request per connection, of at most :data:`MAX_REQUEST_BYTES`, so a client can
        make the server buffer no more than that (aiohttp's parser refuses the request with
        a 400 long before; the answer then closes the connection, or, past the limit, this
        handler does)."""

        received = 0

        def data_received(self, data: bytes) -> None:
            room = MAX_CONNECTION_BYTES - self.received
            self.received += len(data)
            if room > 0:
                super().data_received(data[:room])
            if self.received > MAX_CONNECTION_BYTES and self.transport is not None:
                # Newer aiohttp releases answer 400 before this point; older ones notice an
                # over-long request line only at its end, which a client need never send.
                self.transport.close()

    class Bounded(web.Server):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # Each entry's deadline timer holds its handler, and with it the request's
            # buffers, until it fires: it goes with the connection.
            self._open: dict[RequestHandler, _Open] = {}
            self._trimming: asyncio.TimerHandle | None = None

        def __call__(self) -> RequestHandler:
            handler = CappedHandler(self, loop=self._loop, **self._kwargs)
            _strict_parser(handler)
            return handler

        def admit(
            self, handler: RequestHandler, transport: asyncio.Transport, handshaking: bool
        ) -> None:
            """Count a connection just accepted, closing others if there are too many."""
            deadline = self._loop.call_later(CONNECTION_TIMEOUT, self._expire, handler)
            stage = ACCEPTED if handshaking else OPEN
            self._open[handler] = _Open(transport, deadline, stage, self._loop.time())
            self._trim()

        def reached(self, handler: RequestHandler, stage: int) -> None:
            """``handler``'s connection got as far as ``stage``."""
            entry = self._open.get(handler)
            if entry is not None and entry.stage < stage:
                entry.stage, entry.since = stage, self._loop.time()

        def _trim(self) -> None:
            """Close connections while there are more than :data:`MAX_CONNECTIONS`: the one
            that got least far (the longest there of equals), of those that have not moved on
            for :data:`STALL_GRACE`; any, past :data:`MAX_CONNECTIONS_HELD`."""
            self._trimming = None
            now = self._loop.time()
            while len(self._open) > MAX_CONNECTIONS:
                hard = len(self._open) > MAX_CONNECTIONS_HELD
                stalled = [
                    (e.stage, e.since, h)
                    for h, e in self._open.items()
                    if hard or now - e.since >= STALL_GRACE
                ]
                if not stalled:  # all moving: look again once the first may have stalled
                    if self._trimming is None:
                        self._trimming = self._loop.call_later(STALL_GRACE, self._trim)
                    return
                victim = min(stalled, key=lambda s: s[:2])[2]
                log.debug("Closing one of %d redirect connections", len(self._open))
                self.close(victim)

        def close(self, handler: RequestHandler) -> None:
            entry = self.release(handler)
            if entry is not None:
                _drop(handler, entry.transport)

        def release(self, handler: RequestHandler) -> _Open | None:
            entry = self._open.pop(handler, None)
            if entry is not None:
                entry.deadline.cancel()
            return entry

        def close_all(self) -> None:
            if self._trimming is not None:
                self._trimming.cancel()
            for handler in list(self._open):
                self.close(handler)

        def _expire(self, handler: RequestHandler) -> None:
            log.debug("Closing a redirect connection that outstayed %g s", CONNECTION_TIMEOUT)
            self.close(handler)

        def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
            super().connection_made(handler, transport)
            entry = self._open.get(handler)
            if entry is None:  # plain HTTP: accepted just now
                self.admit(handler, transport, handshaking=False)
            else:  # the handshake is over
                self.reached(handler, OPEN)

        def connection_lost(
            self, handler: RequestHandler, exc: BaseException | None = None
        ) -> None:
            self.release(handler)
            super().connection_lost(handler, exc)

    return Bounded


class BoundedServer(Protocol):
    """What :func:`_bounded_server` makes (typed here, as its class exists only once made)."""

    def __call__(self) -> RequestHandler: ...
    def admit(
        self, handler: RequestHandler, transport: asyncio.Transport, handshaking: bool
    ) -> None: ...
    def release(self, handler: RequestHandler) -> object: ...
    def reached(self, handler: RequestHandler, stage: int) -> None: ...
    def close_all(self) -> None: ...
    def pre_shutdown(self) -> None: ...
    async def shutdown(self, timeout: float | None = None) -> None: ...


@functools.cache
def _tls_layer() -> Callable[..., Any]:
    """asyncio's own TLS layer, as ``create_server`` uses it, with two changes."""
    from asyncio import sslproto

    class Layer(sslproto.SSLProtocol):
        # It reads into a 256 KiB buffer made with each connection: 8 MB for a full listener.
        # A redirect request is a sixteenth of that.
        max_size = MAX_CONNECTION_BYTES

        def answered(self) -> None:
            """Called when the layer first sends: the client's ClientHello was complete."""

        def _process_outgoing(self) -> None:
            # How far a handshake got decides which connection is closed first (see
            # Bounded._trim); tests/test_hardening.py checks this method is still called.
            # (Private to asyncio, hence unknown to the type stubs.)
            if self._outgoing.pending:  # type: ignore[attr-defined]
                self.answered()
            super()._process_outgoing()  # type: ignore[misc]

    return Layer


class _Handshake(asyncio.Protocol):
    """An HTTPS connection from its accept: counted at once, then given its TLS handshake.

    asyncio's own TLS server calls the protocol only once the handshake is done, which left
    stalled handshakes uncounted (thousands of them held 700 MB and every descriptor), and
    gives them as long as the connection (10 s); a local browser needs milliseconds.
    """

    def __init__(self, server: BoundedServer, tls: ssl.SSLContext) -> None:
        self._server = server
        self._tls = tls

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        loop = asyncio.get_running_loop()
        handler = self._server()
        self._server.admit(handler, transport, handshaking=True)
        done = loop.create_future()
        layer = _tls_layer()(
            loop,
            handler,
            self._tls,
            done,
            server_side=True,
            ssl_handshake_timeout=HANDSHAKE_TIMEOUT,
        )
        layer.answered = functools.partial(self._server.reached, handler, ANSWERED)
        done.add_done_callback(functools.partial(self._finished, handler, transport))
        transport.set_protocol(layer)
        layer.connection_made(transport)

    def _finished(
        self, handler: RequestHandler, transport: asyncio.Transport, done: asyncio.Future[None]
    ) -> None:
        if done.cancelled() or done.exception() is not None:
            log.debug("A TLS handshake on the redirect listener failed: %s", done)
            transport.abort()
            self._server.release(handler)


class RedirectListeners:
    """The HTTP and HTTPS redirect listeners; a port is ``None`` when that listener is off."""

    def __init__(self, target: RedirectTarget) -> None:
        self._target = target
        self._servers: list[tuple[asyncio.Server, BoundedServer]] = []
        self._bound: list[tuple[socket.socket, ssl.SSLContext | None]] = []
        self._serving: asyncio.Task[None] | None = None
        self.http_port: int | None = None
        self.https_port: int | None = None

    def _handler(self, scheme: str) -> Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]:
        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            # Upstream's parser accepts GET only and needs exactly one Host header.
            if request.method != "GET" or request_size(request) >= MAX_REQUEST_BYTES:
                return BAD_REQUEST.response()
            hosts = request.headers.getall("Host", [])
            if len(hosts) != 1:
                return BAD_REQUEST.response()
            page = decide(self._target, f"{scheme}://{hosts[0]}{request.raw_path}")
            return page.response()

        return handle

    async def start(self, http: str | None, https: str | None, tls: ssl.SSLContext | None) -> None:
        """Bind the listeners (``host:port`` strings, ``None`` for off); they serve soon after.

        :raises OSError: when an address cannot be bound.
        """
        try:
            if http is not None:
                self.http_port = await self._bind(http, None)
            if https is not None:
                assert tls is not None
                self.https_port = await self._bind(https, tls)
        except BaseException:
            self._close_bound()
            raise
        if self._bound:
            self._serving = asyncio.create_task(self._serve(), name="redirect listeners")

    async def _bind(self, address: str, tls: ssl.SSLContext | None) -> int:
        # "host:port", as upstream's server reads it: no host is no address (and an empty
        # one must not become every interface), and the words are upstream's.
        host, colon, port_text = address.rpartition(":")
        host = host.removeprefix("[").removesuffix("]") if host.startswith("[") else host
        if not colon or not host:
            raise OSError("invalid socket address")
        if not port_text.isdigit() or int(port_text) > 65535:
            raise OSError("invalid port value")
        port = int(port_text)
        sock = await _bound_socket(asyncio.get_running_loop(), host, port)
        self._bound.append((sock, tls))
        bound: int = sock.getsockname()[1]
        return bound

    async def _serve(self) -> None:
        # In a thread: imported in the event loop, aiohttp would hold up the first bus calls.
        try:
            await asyncio.to_thread(importlib.import_module, "aiohttp.web")
            while self._bound:
                sock, tls = self._bound[0]
                await self._listen(sock, tls)
                self._bound.pop(0)
        except Exception as e:  # a task's failure would otherwise go unseen
            log.error("Cannot serve redirects: %s", error_text(e))

    def _close_bound(self) -> None:
        for sock, _ in self._bound:
            sock.close()
        self._bound = []

    async def _listen(self, sock: socket.socket, tls: ssl.SSLContext | None) -> None:
        loop = asyncio.get_running_loop()
        quiet_accept_errors(loop)
        web_server = _bounded_server()(
            self._handler("https" if tls else "http"),
            access_log=None,
            max_line_size=MAX_REQUEST_BYTES,
            max_field_size=MAX_REQUEST_BYTES,
        )
        # TLS is layered on here, not by asyncio, so that a connection counts from its accept.
        protocol = web_server if tls is None else functools.partial(_Handshake, web_server, tls)
        # asyncio accepts up to ``backlog`` connections in a go (100 by default) before it
        # tells the protocols of any: fewer keeps a flood's descriptors near the cap. The
        # kernel's queue, which the same number sets, gets its full length back.
        server = await loop.create_server(protocol, sock=sock, backlog=ACCEPT_BATCH)
        sock.listen(socket.SOMAXCONN)
        self._servers.append((server, web_server))

    async def stop(self) -> None:
        """Close both listeners and every connection they have open."""
        if self._serving is not None:
            self._serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._serving
            self._serving = None
        self._close_bound()
        servers, self._servers = self._servers, []
        for server, web_server in servers:
            server.close()
            web_server.close_all()
            web_server.pre_shutdown()
            await web_server.shutdown(LISTENER_SHUTDOWN_TIMEOUT)
            await server.wait_closed()


ACCEPT_FAILED = "socket.accept() out of system resource"
"""asyncio's message when accept fails for want of descriptors or memory."""
ACCEPT_REPORT_GAP = 60.0
"""Seconds between two reports of failing accepts: asyncio reports each attempt, with a
traceback, tens of thousands a minute while descriptors run short."""


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Let through one report of failing accepts per :data:`ACCEPT_REPORT_GAP`, with a count
    of those held back; every other report of the loop goes on as before (installed once)."""
    previous = loop.get_exception_handler()
    if getattr(previous, "quiets_accept_errors", False):
        return
    last = -ACCEPT_REPORT_GAP
    held = 0

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        nonlocal last, held
        if context.get("message") != ACCEPT_FAILED:
            if previous is None:
                loop.default_exception_handler(context)
            else:
                previous(loop, context)
            return
        if loop.time() - last < ACCEPT_REPORT_GAP:
            held += 1
            return
        last = loop.time()
        more = f" ({held} more since the last report)" if held else ""
        error = context.get("exception")
        reason = error_text(error) if isinstance(error, BaseException) else "no reason given"
        log.warning("A redirect listener cannot accept connections: %s%s", reason, more)
        held = 0

    handler.quiets_accept_errors = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)


async def _bound_socket(loop: asyncio.AbstractEventLoop, host: str, port: int) -> socket.socket:
    """A listening socket on the first address ``host`` resolves to that can be bound.

    One socket, not one per address: ``localhost:0`` would otherwise get a different random
    port for 127.0.0.1 and for ::1, and only one of them could be put into redirect URIs.
    """
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    error: OSError = OSError(f"cannot resolve '{host}'")
    for family, kind, proto, _, addr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(addr)
            sock.listen(socket.SOMAXCONN)
            sock.setblocking(False)
        except OSError as e:
            sock.close()
            error = e
            continue
        return sock
    raise error
