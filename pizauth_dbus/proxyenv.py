"""Which proxy a request to a provider goes through, read from the standard variables.

``https_proxy``, ``http_proxy``, ``all_proxy`` and ``no_proxy`` (lower case wins over upper
case, as curl and Python's own ``urllib`` read them). aiohttp can speak to HTTP proxies only:
a ``socks`` proxy would need another package, so such a value is reported and ignored (the
request then goes direct, as it did before proxies were read at all). A shared leaf: the
server's HTTP client chooses with it, and the doctor and the ``Network`` property describe
it. Light on purpose: only the standard library.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

USABLE_SCHEMES = ("http", "https")
"""Proxy URL schemes aiohttp speaks to; anything else (``socks5://``, ...) is ignored."""
VARIABLES = ("https_proxy", "http_proxy", "all_proxy", "no_proxy")
"""The variables that choose a proxy, in the order the doctor lists them."""


@dataclass(frozen=True)
class ProxyChoice:
    """The proxy for one URL: ``url`` (credentials included) or None to go direct;
    ``ignored`` is a proxy that would apply but cannot be used (a ``socks`` one)."""

    url: str | None
    ignored: str | None = None


def _proxies(env: Mapping[str, str] | None) -> dict[str, str]:
    """``{scheme: proxy, "no": exemptions}`` from ``env``, as urllib reads its own
    environment: any ``*_proxy`` in any case, then the lower-case ones over those."""
    env = os.environ if env is None else env
    out: dict[str, str] = {}
    for name, value in env.items():
        if value and name.lower().endswith("_proxy"):
            out[name.lower().removesuffix("_proxy")] = value
    for name, value in env.items():
        if name.islower() and name.endswith("_proxy"):
            key = name.removesuffix("_proxy")
            if value:
                out[key] = value
            else:  # set but empty: this one says "none"
                out.pop(key, None)
    return out


def proxy_for(url: str, env: Mapping[str, str] | None = None) -> ProxyChoice:
    """The proxy a request to ``url`` uses: the scheme's variable, else ``all_proxy``, unless
    ``no_proxy`` names the host (or ``*``).

    :param env: the variables to read; the process's environment by default.
    """
    proxies = _proxies(env)
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
    where = f"{host}:{port}" if port is not None else host
    if host and urllib.request.proxy_bypass_environment(where, proxies):  # type: ignore[attr-defined]
        return ProxyChoice(None)
    proxy = proxies.get(parts.scheme.lower()) or proxies.get("all")
    if not proxy:
        return ProxyChoice(None)
    if "://" not in proxy:  # "proxy.example:3128", as many people write it
        proxy = f"http://{proxy}"
    if urlsplit(proxy).scheme.lower() not in USABLE_SCHEMES:
        return ProxyChoice(None, ignored=proxy)
    return ProxyChoice(proxy)


def redact(proxy: str) -> str:
    """``proxy`` without its user name and password (for logs, the doctor and the bus)."""
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.username is None and parts.password is None:
        return proxy
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{netloc}"))


def describe(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The proxy variables in force, credentials removed: ``{"https_proxy": ..., ...}``, only
    those set."""
    proxies = _proxies(env)
    out: dict[str, str] = {}
    for name in VARIABLES:
        value = proxies.get(name.removesuffix("_proxy"))
        if value:
            out[name] = value if name == "no_proxy" else redact(value)
    return out
