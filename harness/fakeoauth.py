"""A scriptable fake OAuth2 authorisation and token endpoint, for fault injection.

oidc-provider only gives well-formed answers; this fake gives whatever a test scripts: 5xx,
delays, malformed JSON, missing fields. It runs an aiohttp application on 127.0.0.1 in a
background thread with its own event loop, so synchronous tests can use it and async tests never
block on it (a fake on the test's own loop would stall while the test waits for a subprocess).

``GET /authorize`` redirects at once to the request's ``redirect_uri`` with ``code`` (or
``error`` when :attr:`FakeOAuth.auth_error` is set) and the request's ``state``.
``POST /token`` answers with the next scripted :class:`Reply`, or, when the script is empty, a
valid Bearer response with a fresh access token. ``/hop/<status>/<n>`` (any method) redirects
with that status ``n`` times in a row and then to ``/token``: :meth:`FakeOAuth.hops` gives such
a token URI.

``POST /device`` is a device authorization endpoint (RFC 8628): it answers with the next
scripted reply of :attr:`FakeOAuth.device_script`, or a fresh device code. Token requests with
the device-code grant then get ``authorization_pending`` until :attr:`FakeOAuth.device_approved`
is set (unless the token script has a reply for them).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import urlencode

from aiohttp import web

from harness.endpoints import Endpoint
from harness.service import Service
from harness.texts import account_block

START_TIMEOUT = 10.0
"""Seconds to wait for the server thread to bind its port."""

SHUTDOWN_TIMEOUT = 0.1
"""Seconds in-flight requests get at :meth:`FakeOAuth.stop`: enough for an answer on its way;
a request still sleeping on a scripted delay is cancelled rather than waited for (no test
waits for the fake's teardown)."""


HOLD_LIMIT = 60.0
"""Seconds a held answer waits at most for its release: longer than any test."""
HOLD_POLL = 0.01
"""Seconds between two looks at a held answer's event."""

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
"""The grant type of a device-flow token request (RFC 8628), the server's polls."""
FAST_DEVICE_POLLING = {"PIZAUTH_DEVICE_INTERVAL": "0.2"}
"""Server environment for device flows against this fake, whose device answer names no
interval: poll every 0.2 s rather than 5 s."""


@dataclass
class Reply:
    """One scripted answer from the token endpoint."""

    status: int = 200
    json: Any = None
    """Sent as JSON when set (``{}`` when neither ``json`` nor ``text`` is set)."""
    text: str | None = None
    """Sent as-is with content type application/json when set (e.g. malformed JSON)."""
    body: bytes | None = None
    """Sent as-is, with :attr:`headers` (e.g. ``Content-Encoding: gzip``), when set."""
    delay: float = 0.0
    """Seconds to wait before answering (to provoke client timeouts)."""
    headers: dict[str, str] = field(default_factory=dict)
    hold: threading.Event | None = None
    """When set, the answer waits until the test sets this event (at most :data:`HOLD_LIMIT`
    seconds): a request the test keeps in flight while it does something else, however long
    that takes on a busy machine, and not a moment longer."""


def bearer(access_token: str, refresh_token: str | None = None, expires_in: int = 3600) -> Reply:
    """A scripted successful token answer."""
    body: dict[str, Any] = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
    }
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    return Reply(json=body)


@dataclass(frozen=True)
class AuthorizeRequest:
    """What one ``GET /authorize`` carried."""

    query: dict[str, str]


async def _answer_later(reply: Reply) -> web.StreamResponse:
    """``reply``, once released (:attr:`Reply.hold`) and after its delay."""
    if reply.hold is not None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HOLD_LIMIT
        while not reply.hold.is_set() and loop.time() < deadline:
            await asyncio.sleep(HOLD_POLL)
    if reply.delay:
        await asyncio.sleep(reply.delay)
    return _answer(reply)


def _answer(reply: Reply) -> web.StreamResponse:
    if reply.body is not None:
        headers = {"Content-Type": "application/json", **reply.headers}
        return web.Response(status=reply.status, body=reply.body, headers=headers)
    if reply.text is not None:
        return web.Response(
            status=reply.status,
            text=reply.text,
            content_type="application/json",
            headers=reply.headers,
        )
    return web.json_response(
        reply.json if reply.json is not None else {}, status=reply.status, headers=reply.headers
    )


async def _close(runner: web.AppRunner) -> None:
    """Stop listening, close every connection at once, then clean up.

    A client's idle keep-alive connection (a pizauth server still running) would otherwise be
    left to the shutdown's timeout, and one still open when the loop closes is later found by
    the garbage collector: an unclosed transport, which on Python 3.13.0 even raises from its
    ``__del__`` once the listening server has gone (an error in whatever test then runs).
    """
    server = runner.server
    for site in list(runner.sites):
        await site.stop()
    if server is not None:
        for connection in list(server.connections):
            connection.force_close()
    await runner.cleanup()


@contextlib.contextmanager
def _quiet_transport_deaths() -> Iterator[None]:
    """Drop what an asyncio transport's ``__del__`` raises meanwhile, and only that.

    Besides its ResourceWarning, a transport collected after its listening server has gone
    raises TypeError on Python 3.13.0 (``Server._wakeup`` runs a second time): it is the same
    leftover, and no business of whichever test is then tearing down.
    """
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if not getattr(unraisable.object, "__qualname__", "").endswith("Transport.__del__"):
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


async def _cancel_others() -> None:
    """Cancel every task on the running loop but this one, and wait for them to finish."""
    me = asyncio.current_task()
    others = [t for t in asyncio.all_tasks() if t is not me]
    for t in others:
        t.cancel()
    await asyncio.gather(*others, return_exceptions=True)


class FakeOAuth(Service):
    """The fake server; also a context manager that stops it on exit.

    Attributes tests use (safe to change from the test's thread between requests):

    - :attr:`script`: replies for ``POST /token``, consumed in order.
    - :attr:`seen`: each token request's form fields, as ordered ``(name, value)`` pairs.
    - :attr:`authorize_seen`: each ``/authorize`` request's query.
    - :attr:`auth_error`: when set, ``/authorize`` redirects with ``error=<it>``.
    - :attr:`expires_in`, :attr:`refresh_token`: used in the default (unscripted) reply.
    - :attr:`seen_at`: when each token request arrived (``time.monotonic()``).
    - :attr:`device_script`, :attr:`device_seen`, :attr:`device_interval`,
      :attr:`device_approved`: the device authorization endpoint's replies, requests, the
      ``interval`` it names (None: none) and whether the person has entered the code.
    """

    def __init__(self, *, expires_in: int = 3600, refresh_token: str | None = "rt-1") -> None:
        self.script: list[Reply] = []
        self.seen: list[list[tuple[str, str]]] = []
        self.authorize_seen: list[AuthorizeRequest] = []
        self.methods_seen: list[tuple[str, str]] = []
        """Every request to ``/token`` or ``/hop/...``: ``(method, path)``, in order."""
        self.auth_error: str | None = None
        self.code = "test-code"
        self.expires_in = expires_in
        self.refresh_token = refresh_token
        self.issued = 0
        self.seen_at: list[float] = []
        self.device_script: list[Reply] = []
        self.device_seen: list[list[tuple[str, str]]] = []
        self.device_interval: int | None = 1
        self.device_approved = False
        self.devices = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- endpoints ----------------------------------------------------------------------------

    url = Endpoint()
    """The server's base URL, ``http://127.0.0.1:<port>``."""
    auth_uri = Endpoint("/authorize")
    token_uri = Endpoint("/token")
    device_uri = Endpoint("/device")

    def account_config(
        self,
        name: str = "acct",
        *,
        extra: str = "",
        client_id: str = "fake-client",
        client_secret: str | None = "fake-secret",
        scopes: Sequence[str] | None = None,
        device: bool = False,
    ) -> str:
        """A pizauth.conf ``account`` block using this endpoint.

        ``extra`` is put in as it is before the closing brace (each setting ending in ``;`` and
        a newline), e.g. ``"refresh_retry = 0s;\\n"``. With ``device``, the account signs in
        with the device flow (``device_auth_uri``, no ``auth_uri``). ``scopes`` default to
        ``mail``, and ``offline_access`` too for the device flow.
        """
        if scopes is None:
            scopes = ("mail", "offline_access") if device else ("mail",)
        start = ("device_auth_uri", self.device_uri) if device else ("auth_uri", self.auth_uri)
        return account_block(
            name, start, self.token_uri, client_id, client_secret, scopes, tail=extra
        )

    def hops(self, status: int, count: int) -> str:
        """A token URI that redirects ``count`` times with ``status`` before ``/token``."""
        return f"{self.url}/hop/{status}/{count}"

    def token_fields(self, index: int = -1) -> dict[str, str]:
        """The form fields of token request ``index`` (the last one by default) as a dict."""
        with self._lock:
            return dict(self.seen[index])

    def device_polls(self) -> int:
        """How many token requests so far were device-flow polls (:data:`DEVICE_GRANT`)."""
        return sum(
            1
            for i in range(len(self.seen))
            if self.token_fields(i).get("grant_type") == DEVICE_GRANT
        )

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        with self._lock:
            self.authorize_seen.append(AuthorizeRequest(query))
            error = self.auth_error
        redirect_uri = query.get("redirect_uri")
        if not redirect_uri:
            return web.Response(status=400, text="missing redirect_uri")
        params = {"error": error} if error else {"code": self.code}
        if "state" in query:
            params["state"] = query["state"]
        sep = "&" if "?" in redirect_uri else "?"
        raise web.HTTPFound(redirect_uri + sep + urlencode(params))

    async def _device(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        with self._lock:
            self.device_seen.append([(k, str(v)) for k, v in form.items()])
            reply = self.device_script.pop(0) if self.device_script else None
            self.devices += 1
            n = self.devices
        if reply is not None:
            return await _answer_later(reply)
        body: dict[str, Any] = {
            "device_code": f"device-code-{n}",
            "user_code": f"CODE-{n:04d}",
            "verification_uri": f"{self.url}/verify",
            "verification_uri_complete": f"{self.url}/verify?user_code=CODE-{n:04d}",
            "expires_in": 600,
        }
        if self.device_interval is not None:
            body["interval"] = self.device_interval
        return web.json_response(body)

    async def _hop(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self.methods_seen.append((request.method, request.path))
        status, left = int(request.match_info["status"]), int(request.match_info["left"])
        target = "/token" if left <= 1 else f"/hop/{status}/{left - 1}"
        return web.Response(status=status, headers={"Location": target})

    async def _token(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self.methods_seen.append((request.method, request.path))
        if request.method != "POST":
            return web.Response(status=405, headers={"Allow": "POST"})
        form = await request.post()
        with self._lock:
            self.seen.append([(k, str(v)) for k, v in form.items()])
            self.seen_at.append(time.monotonic())
            reply = self.script.pop(0) if self.script else None
            device = form.get("grant_type") == "urn:ietf:params:oauth:grant-type:device_code"
            if reply is None and device and not self.device_approved:
                reply = Reply(400, {"error": "authorization_pending"})
            if reply is None:
                self.issued += 1
                body: dict[str, Any] = {
                    "access_token": f"at-{self.issued}",
                    "token_type": "Bearer",
                    "expires_in": self.expires_in,
                }
                if self.refresh_token is not None:
                    body["refresh_token"] = self.refresh_token
        if reply is None:
            return web.json_response(body)
        return await _answer_later(reply)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the server thread and wait (bounded) until it listens."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=self._run_loop, args=(loop,), name="fake-oauth", daemon=True
        )
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._serve(), loop)
        try:
            self.port = future.result(timeout=START_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> int:
        app = web.Application()
        app.router.add_get("/authorize", self._authorize)
        app.router.add_route("*", "/token", self._token)
        app.router.add_post("/device", self._device)
        app.router.add_route("*", "/hop/{status}/{left}", self._hop)
        runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT, access_log=None)
        await runner.setup()
        self._runner = runner
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port: int = runner.addresses[0][1]
        return port

    def stop(self) -> None:
        """Stop serving and end the thread (bounded). Idempotent."""
        loop, thread, runner = self._loop, self._thread, self._runner
        self._loop = self._thread = self._runner = None
        if loop is None or thread is None:
            return
        if runner is not None and not loop.is_closed():
            future = asyncio.run_coroutine_threadsafe(_close(runner), loop)
            future.result(timeout=SHUTDOWN_TIMEOUT + START_TIMEOUT)
            # A request still sleeping on a scripted delay outlives cleanup(); cancel it here so
            # its task is not destroyed pending when the loop closes (an unraisable warning).
            asyncio.run_coroutine_threadsafe(_cancel_others(), loop).result(timeout=START_TIMEOUT)
        with contextlib.suppress(RuntimeError):  # the loop already closed
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=START_TIMEOUT)
        # A connection of a client that was killed mid-request can outlive cleanup() unclosed;
        # once the loop is closed nothing refers to it. Collect it now, quietly, rather than
        # let the collector find it later and report it as an unclosed transport in whatever
        # test then runs.
        with warnings.catch_warnings(), _quiet_transport_deaths():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()

    def started(self) -> bool:
        return self._loop is not None
