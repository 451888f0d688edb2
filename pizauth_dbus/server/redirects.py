"""What a redirect means: where the browser lands after the person authorises.

This module owns the decision sequence upstream pizauth applies to a redirect (and its status
codes) and the pages a person sees; what a redirect does to an account is left to the
:class:`RedirectTarget` (:class:`~pizauth_dbus.server.authorisation.Authoriser`). The sockets,
and the limits on what a client may send them, are :mod:`pizauth_dbus.server.listeners`'.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from aiohttp import web

from pizauth_dbus.server.state import Entry, Pending, Store
from pizauth_dbus.urls import query_pairs, redirect_matches

log = logging.getLogger(__name__)

MAX_QUERY_PAIRS = 64
"""A redirect carries a handful of parameters (code, state, iss, session_state...)."""

SUCCESS = "pizauth processing authentication: you can safely close this page."
NO_MATCH = "No pending token matches request state: request a fresh token"
NO_CODE = "The authorisation server's answer carried no authorisation code."


class RedirectTarget(Protocol):
    """What the listeners need from the authorisation flow."""

    store: Store

    def authorisation_failed(self, name: str, entry: Entry, error: str, description: str) -> str:
        """The provider redirected with an ``error`` (and maybe an ``error_description``):
        the account goes back to Empty. Returns what the person is told."""

    def code_received(self, name: str, entry: Entry, code: str) -> object:
        """The provider redirected with a code: exchange it (in the background)."""


@dataclass(frozen=True)
class Page:
    """What the listener answers: a status and, unless ``title`` is empty, a small HTML page."""

    status: int
    title: str = ""
    message: str = ""
    good: bool = False
    # What the person can do next, in plain words; upstream's message above stays verbatim.
    next_step: str = ""

    def response(self) -> web.Response:
        from aiohttp import web

        # The URL carried a code: never cache the page or leak the URL as a referrer.
        headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
        if not self.title:
            resp = web.Response(status=self.status, headers=headers)
        else:
            body = _PAGE.format(
                title=html.escape(self.title),
                message=html.escape(self.message),
                next_step=html.escape(self.next_step),
                tone="good" if self.good else "bad",
            )
            resp = web.Response(
                status=self.status, text=body, content_type="text/html", headers=headers
            )
        resp.force_close()  # one request per connection, as upstream
        return resp


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pizauth: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f4f5f7; color: #1d1f23; margin: 0; }}
main {{ max-width: 34rem; margin: 12vh auto; background: #fff; padding: 2rem 2.5rem;
        border-radius: 12px; box-shadow: 0 2px 12px rgba(0,0,0,.08); }}
h1 {{ font-size: 1.4rem; margin-top: 0; }}
.good h1 {{ color: #1a7f37; }} .bad h1 {{ color: #b42318; }}
p {{ line-height: 1.5; }}
.next {{ color: #57606a; line-height: 1.5; border-top: 1px solid #e5e7eb; padding-top: .8rem; }}
</style></head>
<body class="{tone}"><main><h1>{title}</h1><p>{message}</p>
<div class="next">{next_step}</div></main></body></html>
"""

BAD_REQUEST = Page(400)
NOT_FOUND = Page(404)


def _first(pairs: list[tuple[str, str]], key: str) -> str | None:
    return next((v for k, v in pairs if k == key), None)


def decide(target: RedirectTarget, url: str) -> Page:
    """Apply upstream's decision sequence to a redirect that arrived as ``url``."""
    try:
        pairs = query_pairs(url, MAX_QUERY_PAIRS)
    except ValueError:  # not a URL, or more parameters than any redirect has
        return BAD_REQUEST
    state = _first(pairs, "state")
    if state is None:
        return NOT_FOUND  # favicon.ico, stray paths
    found = target.store.find_pending(state)
    if found is None:
        return Page(
            200,
            "Link already used or out of date",
            NO_MATCH,
            next_step="If you still need to sign in, run pizauth show <account> for a new link.",
        )
    name, entry = found
    assert isinstance(entry.token, Pending)
    if not redirect_matches(entry.token.redirect_uri, url):
        return NOT_FOUND
    error = _first(pairs, "error")
    if error is not None:
        msg = target.authorisation_failed(
            name, entry, error, _first(pairs, "error_description") or ""
        )
        return Page(
            400,
            "Authorisation failed",
            msg,
            next_step=f"Run pizauth show {name} for a new link, then try again.",
        )
    code = _first(pairs, "code")
    if code is None:
        return Page(
            400,
            "Authorisation incomplete",
            NO_CODE,
            next_step="Open the link again, or run pizauth show <account> for a new one.",
        )
    target.code_received(name, entry, code)
    return Page(
        200,
        "Authorisation received",
        SUCCESS,
        good=True,
        next_step=f"Your mail programs get the token for {name} from pizauth show {name}.",
    )
