"""A stand-in for the person at the browser.

:func:`authorise` opens an authorisation URL, signs in and consents on oidc-provider's
devInteractions pages (plain HTML forms, no JavaScript), and follows the final redirect to the
client's redirect URI, which in the end-to-end tests is pizauth's own listener.
:func:`enter_user_code` plays the person of the device flow (RFC 8628): it opens the
verification page, types the code, confirms (or aborts), signs in and consents. :func:`follow`
just opens a URL. Both use the standard library only, keep cookies, never use a proxy, give every
request a timeout, and send ``localhost`` to 127.0.0.1 (pizauth listens on IPv4 loopback while
``localhost`` may resolve to ``::1`` first).
"""

from __future__ import annotations

import html.parser
import http.client
import http.cookiejar
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

HTTP_TIMEOUT = 10.0
"""Seconds allowed for each request (each page, each redirect hop's connection)."""

MAX_INTERACTION_STEPS = 6
"""Pages to submit at most; devInteractions needs two (login, consent), one with a session."""


@dataclass(frozen=True)
class UserResult:
    """Where the browser ended up and what it was shown there."""

    url: str
    """The last URL loaded, after every redirect: e.g. the listener's ``/?code=...&state=...``."""
    status: int
    """The HTTP status of the last page (a 4xx or 5xx is returned here, not raised)."""
    body: str
    """The last page's body, decoded as UTF-8 (undecodable bytes replaced)."""

    @property
    def query(self) -> dict[str, str]:
        """The last URL's query parameters (first value of each)."""
        return {
            k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(self.url).query).items()
        }


def unverified_ssl_context() -> ssl.SSLContext:
    """A client context that accepts any certificate: for pizauth's self-signed HTTPS listener."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _loopback_connect(address: tuple[str, int], timeout: Any, source: Any) -> socket.socket:
    # Stands in for socket.create_connection inside http.client, which passes all three.
    host, port = address
    if host == "localhost":
        host = "127.0.0.1"
    return socket.create_connection((host, port), timeout, source)


class _LoopbackHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _loopback_connect


class _LoopbackHTTPSConnection(http.client.HTTPSConnection):
    # Only the TCP connection goes to 127.0.0.1; TLS still names "localhost" (SNI, hostname check).
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _loopback_connect


class _LoopbackHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_LoopbackHTTPConnection, req)


class _LoopbackHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, context: ssl.SSLContext | None) -> None:
        super().__init__(context=context)
        self._loopback_context = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_LoopbackHTTPSConnection, req, context=self._loopback_context)


class _Browser:
    """A cookie-keeping, redirect-following urllib opener with per-request timeouts."""

    def __init__(self, ssl_context: ssl.SSLContext | None, timeout: float) -> None:
        self.timeout = timeout
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
            _LoopbackHTTPHandler(),
            _LoopbackHTTPSHandler(ssl_context),
        )

    def open(self, url: str, form: dict[str, str] | None = None) -> UserResult:
        data = None if form is None else urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(url, data)
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return UserResult(response.geturl(), response.status, _decode(response.read()))
        except urllib.error.HTTPError as e:
            with e:
                return UserResult(e.geturl(), e.code, _decode(e.read()))


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


@dataclass
class _Form:
    action: str
    fields: dict[str, str]
    visible: set[str]


class _FormParser(html.parser.HTMLParser):
    """Collects each ``<form method="post">`` with its hidden fields and visible input names."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self._current: _Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post":
            self._current = _Form(a.get("action", ""), {}, set())
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and a.get("name"):
            if a.get("type", "text").lower() == "hidden":
                self._current.fields[a["name"]] = a.get("value", "")
            else:
                self._current.visible.add(a["name"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def _interaction_form(page: UserResult) -> _Form | None:
    """The devInteractions form on ``page``, or None if ``page`` is not an interaction page."""
    if page.status != 200 or "/interaction/" not in urllib.parse.urlsplit(page.url).path:
        return None
    parser = _FormParser()
    parser.feed(page.body)
    parser.close()
    for form in parser.forms:
        form.action = urllib.parse.urljoin(page.url, form.action)
        return form
    return None


def authorise(
    url: str,
    *,
    login: str = "alice",
    password: str = "any-password",
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = HTTP_TIMEOUT,
) -> UserResult:
    """Open ``url``, sign in as ``login``, consent, and follow redirects to the end.

    :param ssl_context: for HTTPS hops, e.g. :func:`unverified_ssl_context` for pizauth's
        self-signed listener; None means the default (verifying) context.
    :param timeout: per request, seconds.
    :returns: the last page, whatever its status: normally the redirect listener's answer.
    :raises urllib.error.URLError: when a page cannot be reached at all (e.g. nothing listens).
    :raises RuntimeError: when an interaction page cannot be understood or the walk never ends.
    """
    browser = _Browser(ssl_context, timeout)
    return _sign_in(browser, browser.open(url), login, password)


def _sign_in(browser: _Browser, page: UserResult, login: str, password: str) -> UserResult:
    """From ``page`` on, fill in the login and consent pages until a page is not one."""
    for _ in range(MAX_INTERACTION_STEPS):
        form = _interaction_form(page)
        if form is None:
            return page
        fields = dict(form.fields)
        if "login" in form.visible:
            fields.update(login=login, password=password)
        elif fields.get("prompt") != "consent":
            raise RuntimeError(f"unexpected interaction page at {page.url}:\n{page.body[:2000]}")
        page = browser.open(form.action, fields)
    raise RuntimeError(
        f"still on interaction pages after {MAX_INTERACTION_STEPS} steps: {page.url}"
    )


def follow(
    url: str, *, ssl_context: ssl.SSLContext | None = None, timeout: float = HTTP_TIMEOUT
) -> UserResult:
    """GET ``url`` and follow redirects, without signing in; error statuses are returned."""
    return _Browser(ssl_context, timeout).open(url)


def _post_forms(page: UserResult) -> list[_Form]:
    parser = _FormParser()
    parser.feed(page.body)
    parser.close()
    for form in parser.forms:
        form.action = urllib.parse.urljoin(page.url, form.action)
    return parser.forms


def enter_user_code(
    verification_uri: str,
    user_code: str,
    *,
    abort: bool = False,
    login: str = "alice",
    password: str = "any-password",
    timeout: float = HTTP_TIMEOUT,
) -> UserResult:
    """Open the device flow's ``verification_uri``, type ``user_code``, and confirm it, sign in
    and consent; or, with ``abort``, refuse on the confirmation page ("[ Abort ]").

    :returns: the last page: oidc-provider's "Sign-in Success" page, or after an abort the
        page saying the request was interrupted.
    :raises RuntimeError: when a page is not the one expected.
    """
    browser = _Browser(None, timeout)
    page = browser.open(verification_uri)
    forms = [f for f in _post_forms(page) if "user_code" in f.visible]
    if page.status != 200 or not forms:
        raise RuntimeError(f"no code entry form at {page.url}:\n{page.body[:2000]}")
    page = browser.open(forms[0].action, {**forms[0].fields, "user_code": user_code})
    forms = [f for f in _post_forms(page) if f.fields.get("confirm") == "yes"]
    if page.status != 200 or not forms:
        raise RuntimeError(f"no confirmation form at {page.url}:\n{page.body[:2000]}")
    fields = dict(forms[0].fields)
    if abort:
        del fields["confirm"]
        fields["abort"] = "yes"
        return browser.open(forms[0].action, fields)
    return _sign_in(browser, browser.open(forms[0].action, fields), login, password)
