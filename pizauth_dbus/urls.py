"""URLs as upstream's URL library writes and compares them.

Upstream parses ``auth_uri`` and ``redirect_uri`` with a WHATWG URL parser and prints what it
parsed, so the URL a person sees is normalised: scheme and host in lower case, international
host names in punycode, spaces and non-ASCII characters percent-encoded, dot segments resolved
and the scheme's default port left out (``http://localhost/``, never ``http://localhost:80/``).
We use ada-url, a WHATWG parser too, rather than approximating the standard by hand, so both
programs print the same bytes.

This module owns that normalisation, putting a listener's port into a redirect URI,
deciding whether a URL the browser was sent to is a redirect to the URI we expect, and whether
a URL a provider names (a device flow's verification page) is one a person can open.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from ada_url import URL


def normalise(uri: str) -> str:
    """``uri`` as a WHATWG URL parser serialises it; as given when it does not parse."""
    try:
        return str(URL(uri).href)
    except ValueError:
        return uri


def with_port(uri: str, port: int | None) -> str:
    """``uri`` (normalised) with its port set to ``port``: left out when it is the scheme's
    default, as upstream's URL library does, and kept as it was when ``port`` is None."""
    url = URL(uri)
    if port is not None:
        url.port = str(port)
    return str(url.href)


def redirect_matches(expected: str, actual: str) -> bool:
    """Whether ``actual`` is a redirect to ``expected``.

    Same scheme, host, effective port (``http://localhost/`` and ``http://localhost:80/`` are
    one place) and path; no fragment; every query pair of ``expected`` present in ``actual``,
    which may carry more (``code``, ``state``, ``iss``...).
    """
    if "#" in actual:  # any '#' starts a fragment, even an empty one
        return False
    try:
        e, a = URL(expected), URL(actual)
    except ValueError:
        return False
    if (e.protocol, e.hostname, e.port, e.pathname) != (a.protocol, a.hostname, a.port, a.pathname):
        return False
    actual_pairs = _pairs(a.search)
    return all(p in actual_pairs for p in _pairs(e.search))


def query_pairs(url: str, limit: int | None = None) -> list[tuple[str, str]]:
    """The decoded ``name=value`` pairs of ``url``'s query, in order.

    :param limit: the most pairs to accept.
    :raises ValueError: when ``url`` does not parse, or has more than ``limit`` pairs.
    """
    return _pairs(URL(url).search, limit)


def _pairs(search: str, limit: int | None = None) -> list[tuple[str, str]]:
    # application/x-www-form-urlencoded, as upstream reads queries: '+' is a space.
    return parse_qsl(search.removeprefix("?"), keep_blank_values=True, max_num_fields=limit)


def is_web_url(uri: str) -> bool:
    """Whether ``uri`` is an absolute http or https URL with a host and nothing unprintable:
    what a provider may send a person to (the code is shown to them, the URL opened)."""
    if not uri.isprintable() or any(c.isspace() for c in uri):
        return False
    try:
        url = URL(uri)
    except ValueError:
        return False
    return url.protocol in ("http:", "https:") and bool(url.hostname)


def lands_here(redirect_uri: str) -> bool:
    """Whether a browser on this machine reaches the listener at ``redirect_uri`` without
    help: plain http to a loopback name. An https address meets the listener's self-signed
    certificate, and another host needs a tunnel; either may leave the person on a page that
    cannot be reached, to be finished with ``pizauth complete``."""
    parts = urlsplit(redirect_uri)
    host = (parts.hostname or "").lower()
    loopback = host in ("localhost", "::1") or host.startswith("127.")
    return parts.scheme.lower() == "http" and loopback
