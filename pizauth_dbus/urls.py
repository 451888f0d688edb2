"""URLs as upstream's URL library writes and compares them.

Upstream parses ``auth_uri`` and ``redirect_uri`` with a WHATWG URL parser and prints what it
parsed, so the URL a person sees is normalised: scheme and host in lower case, international
host names in punycode, spaces and non-ASCII characters percent-encoded, dot segments resolved
and the scheme's default port left out (``http://localhost/``, never ``http://localhost:80/``).
We use ada-url, a WHATWG parser too, rather than approximating the standard by hand, so both
programs print the same bytes.

This module owns that normalisation, the check of a configured URI (by the same parser that
later builds URLs from it, so that a URI the config accepts can never fail when it is used),
putting a listener's port into a redirect URI, deciding whether a URL the browser was sent to
is a redirect to the URI we expect, and whether a URL a provider names (a device flow's
verification page) is one a person can open.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote

from ada_url import URL, check_url

# What a URL parser following the WHATWG standard skips before it reads a URL.
_C0_OR_SPACE = "".join(chr(c) for c in range(0x21))
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_SPECIAL = ("http", "https", "ws", "wss", "ftp")  # "file" has no port and may have no host
# The standard's forbidden domain code points: a host that holds one (once percent-decoded)
# fails the IDNA step, which upstream's URL library reports as an IDNA error.
_FORBIDDEN_DOMAIN = re.compile(r"[\x00-\x20#%/:<>?@\[\\\]^|\x7f]")
_ENDS_IN_A_NUMBER = re.compile(r"(?:^|\.)(?:[0-9]+|0[xX][0-9A-Fa-f]*)\.?$")


def parse_error(uri: str) -> str | None:
    """Why ``uri`` is not a URL, in the words of upstream's URL library (the text upstream
    puts after ``Invalid URI:``); None when it is one.

    Whether it parses is ada-url's answer, the parser every later use of the URI goes
    through. ada gives no reason, so the reason is found by taking the URL apart as the
    standard does, in the order upstream's library checks: scheme, host, port.
    """
    if check_url(uri):
        return None
    text = re.sub(r"[\t\n\r]", "", uri.strip(_C0_OR_SPACE))
    scheme = _SCHEME.match(text)
    if scheme is None:
        return "relative URL without a base"
    name, rest = scheme.group()[:-1].lower(), text[scheme.end() :]
    if name in _SPECIAL:
        rest = rest.lstrip("/\\")
    elif rest.startswith("//"):
        rest = rest[2:]
    else:  # an opaque path that ada refuses: no host to blame
        return "invalid domain character"
    authority = re.split(r"[/?#\\]" if name in _SPECIAL else r"[/?#]", rest, maxsplit=1)[0]
    host_port = authority.rpartition("@")[2]
    if host_port.startswith("["):
        end = host_port.find("]")
        host, port = host_port[: end + 1], host_port[end + 1 :].removeprefix(":")
        if end < 0 or not check_url(f"http://{host}/"):
            return "invalid IPv6 address"  # a zone id ("%25eth0") included: WHATWG has none
    else:
        host, _, port = host_port.partition(":")
        if not host:
            return "empty host"
        if not check_url(f"http://{host}/"):
            decoded = unquote(host, errors="replace").lower()
            if not _FORBIDDEN_DOMAIN.search(decoded) and _ENDS_IN_A_NUMBER.search(decoded):
                return "invalid IPv4 address"
            return "invalid international domain name"
    if port and (not port.isdigit() or int(port) > 65535):
        return "invalid port number"
    return "invalid domain character"  # nothing left to blame; not met in practice


def has_fragment(uri: str) -> bool:
    """Whether ``uri`` (which parses) has a fragment, even an empty one (``.../#``)."""
    return "#" in str(URL(uri).href)  # only a fragment can put a '#' into the href


def scheme(uri: str) -> str:
    """The scheme of ``uri`` (which parses), in lower case and without its colon."""
    return str(URL(uri).protocol).removesuffix(":")


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
    try:
        url = URL(redirect_uri)
    except ValueError:
        return False
    host = str(url.hostname)
    loopback = host in ("localhost", "[::1]") or host.startswith("127.")
    return url.protocol == "http:" and loopback
