"""The provider data file (``providers.json``, shipped in the package): what pizauth-dbus knows
about mail providers, and the table of known causes behind their error answers.

One file, read by ``pizauth-dbus new-account`` (endpoints, tenants, scopes per protocol, what to
register), by the doctor and by the server's error hints (:mod:`pizauth_dbus.config.hints`).
Every entry names its source and the day it was last checked against it; pizauth.conf(5)
describes the file. Standard library only: the server, the doctor and the assistant all read it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

DATA_FILE = "providers.json"
"""The data file's name inside :mod:`pizauth_dbus.config`."""
TENANT_FIELD = "{tenant}"
"""Where a Microsoft endpoint takes the tenant (``common``, ``consumers``, ... or an ID)."""


@dataclass(frozen=True)
class Server:
    """A provider's mail server for one protocol."""

    host: str
    port: int
    tls: str  # "implicit" (TLS from the start) or "starttls"


@dataclass(frozen=True)
class Provider:
    """One provider's entry in the data file."""

    key: str
    label: str
    auth_uri: str
    token_uri: str
    device_auth_uri: str | None
    scopes: dict[str, str]
    refresh_scopes: tuple[str, ...]
    auth_uri_fields: dict[str, str]
    device_flow: bool
    redirect_uri: str
    register_page: str
    register_steps: tuple[str, ...]
    public_client: bool
    servers: dict[str, Server]
    sasl: str
    tenants: dict[str, str]
    default_tenant: str | None
    quirks: tuple[str, ...]
    sources: tuple[str, ...]
    checked: str
    device_flow_refused: str | None = None

    def endpoint(self, uri: str | None, tenant: str | None) -> str | None:
        """``uri`` with the tenant filled in (Microsoft's endpoints name it in their path)."""
        if uri is None:
            return None
        return uri.replace(TENANT_FIELD, tenant or self.default_tenant or "common")


@dataclass(frozen=True)
class Hint:
    """A known cause of a provider's error answer, and what to do about it.

    It applies when one of ``codes`` (Microsoft's AADSTS numbers) is in the answer, or when
    every given condition holds: the ``error`` is one of ``errors``, one of ``texts`` is in the
    message, the account asks for one of ``scopes``, the failure was in the ``flow``.
    """

    id: str
    hint: str
    source: str
    checked: str
    codes: frozenset[int] = frozenset()
    errors: frozenset[str] = frozenset()
    texts: tuple[str, ...] = ()
    scopes: frozenset[str] = frozenset()
    flow: str | None = None


@dataclass(frozen=True)
class Data:
    """The whole file."""

    providers: dict[str, Provider]
    hints: tuple[Hint, ...]


def _provider(key: str, raw: dict[str, Any]) -> Provider:
    reg = raw["register"]
    return Provider(
        key=key,
        label=raw["label"],
        auth_uri=raw["auth_uri"],
        token_uri=raw["token_uri"],
        device_auth_uri=raw.get("device_auth_uri"),
        scopes=dict(raw["scopes"]),
        refresh_scopes=tuple(raw["refresh_scopes"]),
        auth_uri_fields=dict(raw["auth_uri_fields"]),
        device_flow=bool(raw["device_flow"]),
        redirect_uri=raw["redirect_uri"],
        register_page=reg["page"],
        register_steps=tuple(reg["steps"]),
        public_client=bool(reg["public_client"]),
        servers={p: Server(s["host"], int(s["port"]), s["tls"]) for p, s in raw["servers"].items()},
        sasl=raw["sasl"],
        tenants=dict(raw.get("tenants", {})),
        default_tenant=raw.get("default_tenant"),
        quirks=tuple(raw["quirks"]),
        sources=tuple(raw["sources"]),
        checked=raw["checked"],
        device_flow_refused=raw.get("device_flow_refused"),
    )


def _hint(raw: dict[str, Any]) -> Hint:
    return Hint(
        id=raw["id"],
        hint=raw["hint"],
        source=raw["source"],
        checked=raw["checked"],
        codes=frozenset(int(c) for c in raw.get("codes", ())),
        errors=frozenset(raw.get("errors", ())),
        texts=tuple(raw.get("texts", ())),
        scopes=frozenset(raw.get("scopes", ())),
        flow=raw.get("flow"),
    )


def parse(text: str) -> Data:
    """The data in ``text`` (the file's JSON).

    :raises ValueError: (``KeyError`` and ``TypeError`` included) when the shape is wrong.
    """
    raw = json.loads(text)
    if raw.get("version") != 1:
        raise ValueError("unknown provider data version")
    providers = {k: _provider(k, v) for k, v in raw["providers"].items()}
    return Data(providers, tuple(_hint(h) for h in raw["hints"]))


@functools.cache
def load() -> Data:
    """The data file shipped in the package (read once per process)."""
    text = resources.files("pizauth_dbus.config").joinpath(DATA_FILE).read_text("utf-8")
    return parse(text)
