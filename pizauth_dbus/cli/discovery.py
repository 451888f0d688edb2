"""Reading a provider's metadata for ``pizauth-dbus new-account --provider oidc``: OpenID
Connect discovery (``/.well-known/openid-configuration``), else RFC 8414 authorization server
metadata (``/.well-known/oauth-authorization-server``).

Client side and short-lived: the standard library's urllib, bounded in time and size. What the
assistant needs is checked here: the endpoints (https, or http on loopback), the device
endpoint, PKCE with S256, the supported scopes.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from pizauth_dbus.errors import error_text

FETCH_TIMEOUT = 10.0
"""Seconds one metadata request may take."""
MAX_METADATA_BYTES = 256 * 1024
"""A metadata document is a few kilobytes; anything far bigger is not one."""
WELL_KNOWN = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


class DiscoveryError(Exception):
    """The issuer's metadata could not be read or is unusable; the message says why."""


@dataclass(frozen=True)
class Metadata:
    """What the assistant uses from the metadata."""

    issuer: str
    url: str
    authorization_endpoint: str | None
    token_endpoint: str
    device_authorization_endpoint: str | None
    pkce_s256: bool
    """Whether the provider says it supports S256 (None said: unknown, treated as no)."""
    scopes_supported: tuple[str, ...]


def _acceptable(uri: object) -> bool:
    if not isinstance(uri, str):
        return False
    parts = urlsplit(uri)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname in _LOOPBACK


def _fetch(url: str) -> object:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    with opener.open(req, timeout=FETCH_TIMEOUT) as resp:
        body = resp.read(MAX_METADATA_BYTES + 1)
    if len(body) > MAX_METADATA_BYTES:
        raise DiscoveryError(f"{url} answered with more than {MAX_METADATA_BYTES // 1024} KiB")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise DiscoveryError(f"{url} did not answer with JSON metadata") from None


def metadata_urls(issuer: str) -> list[str]:
    """Where an issuer's metadata may be: the issuer itself when it names a well-known
    document, else both well-known places (RFC 8414 section 3 puts a path after them)."""
    issuer = issuer.strip()
    if any(w in issuer for w in WELL_KNOWN):
        return [issuer]
    parts = urlsplit(issuer)
    base = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    return [
        f"{base}{path}{WELL_KNOWN[0]}",
        f"{base}{WELL_KNOWN[1]}{path}",
    ]


def discover(issuer: str) -> Metadata:
    """The issuer's metadata.

    :raises DiscoveryError: naming the address and what is wrong.
    """
    if not _acceptable(issuer.strip()):
        raise DiscoveryError(
            f"'{issuer}' is not an issuer URL: give its https address (http only on loopback)"
        )
    problems: list[str] = []
    for url in metadata_urls(issuer):
        try:
            data = _fetch(url)
        except urllib.error.HTTPError as e:
            problems.append(f"{url}: HTTP code {e.code}")
            continue
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            reason = getattr(e, "reason", e)  # a URLError wraps the OS error
            problems.append(f"{url}: {error_text(reason)}")
            continue
        return _metadata(url, data)
    raise DiscoveryError("no provider metadata found: " + "; ".join(problems))


def _metadata(url: str, data: object) -> Metadata:
    if not isinstance(data, dict):
        raise DiscoveryError(f"{url} did not answer with JSON metadata")
    token = data.get("token_endpoint")
    if not _acceptable(token):
        raise DiscoveryError(f"{url} names no usable token_endpoint")
    auth = data.get("authorization_endpoint")
    device = data.get("device_authorization_endpoint")
    methods = data.get("code_challenge_methods_supported")
    scopes = data.get("scopes_supported")
    assert isinstance(token, str)
    return Metadata(
        issuer=str(data.get("issuer", "")),
        url=url,
        authorization_endpoint=auth if _acceptable(auth) else None,
        token_endpoint=token,
        device_authorization_endpoint=device if _acceptable(device) else None,
        pkce_s256=isinstance(methods, list) and "S256" in methods,
        scopes_supported=tuple(s for s in scopes if isinstance(s, str))
        if isinstance(scopes, list)
        else (),
    )
