"""What ``pizauth-dbus new-account`` writes and says, from the person's answers and the
provider data (:mod:`pizauth_dbus.config.providers`) or a provider's discovered metadata: the
account block, what to register at the provider, and working snippets for msmtp, mbsync and
neomutt. Pure: no input, output or files here.

The block uses upstream's options only, so the file still works with upstream pizauth; no
client ID is ever suggested (each person registers their own: borrowed IDs get disabled, and
break every borrower at once).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pizauth_dbus.cli.discovery import Metadata
from pizauth_dbus.config.model import REDIRECT_URI_DEFAULT
from pizauth_dbus.config.providers import Provider, Server

PROTOCOLS = ("imap", "smtp", "pop")
DEFAULT_PROTOCOLS = ("imap", "smtp")
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")
"""A tenant: common, consumers, organizations, a directory ID or a verified domain name."""
_AUDIENCE = {
    "consumers": "Personal Microsoft accounts only",
    "organizations": "Accounts in any organizational directory (multitenant)",
    "common": "Accounts in any organizational directory and personal Microsoft accounts",
}
_PERMISSIONS = {"imap": "IMAP.AccessAsUser.All", "smtp": "SMTP.Send", "pop": "POP.AccessAsUser.All"}
OIDC_DEFAULT_SCOPES = ("openid", "offline_access")


class PlanError(Exception):
    """The answers cannot make a working account; the message says what to change."""


@dataclass
class Answers:
    """Everything the assistant asks (or takes as options)."""

    name: str | None = None
    provider: str | None = None
    email: str | None = None
    protocols: tuple[str, ...] | None = None
    client_id: str | None = None
    client_secret: str | None = None
    tenant: str | None = None
    issuer: str | None = None
    scopes: tuple[str, ...] | None = None
    device: bool | None = None


@dataclass
class Plan:
    block: str
    register: list[str]
    snippets: str
    notes: list[str] = field(default_factory=list)


def conf_string(s: str) -> str:
    """``s`` as a pizauth.conf string (its only escapes are ``\\"`` and ``\\\\``)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _block(name: str, settings: list[tuple[str, str]]) -> str:
    lines = [f"account {conf_string(name)} {{"]
    lines += [f"    {key} = {value};" for key, value in settings]
    return "\n".join(lines) + "\n}\n"


def _list(items: list[str]) -> str:
    if len(items) < 2:
        return "[" + ", ".join(conf_string(i) for i in items) + "]"
    return "[\n" + ",\n".join(f"        {conf_string(i)}" for i in items) + "\n    ]"


def _fields(pairs: list[tuple[str, str]]) -> str:
    return "{ " + ", ".join(f"{conf_string(k)}: {conf_string(v)}" for k, v in pairs) + " }"


def check_tenant(tenant: str) -> str:
    if not _TENANT.fullmatch(tenant):
        raise PlanError(
            f"'{tenant}' is not a tenant: give common, consumers, organizations or "
            "your directory (tenant) ID"
        )
    return tenant


def plan_known(a: Answers, p: Provider) -> Plan:
    """The plan for a provider in the data file."""
    assert a.name and a.email and a.client_id and a.protocols is not None
    notes: list[str] = []
    tenant = check_tenant(a.tenant or p.default_tenant or "") if p.tenants else None
    if a.device and not p.device_flow:
        raise PlanError(
            (p.device_flow_refused or f"{p.label} offers no device code sign-in")
            + ": sign in with the browser instead (pizauth complete finishes a sign-in made "
            "in a browser on another machine)"
        )
    scopes = list(dict.fromkeys([*(p.scopes[x] for x in a.protocols), *p.refresh_scopes]))
    settings: list[tuple[str, str]] = []
    if a.device:
        settings.append(
            ("device_auth_uri", conf_string(p.endpoint(p.device_auth_uri, tenant) or ""))
        )
    else:
        settings.append(("auth_uri", conf_string(p.endpoint(p.auth_uri, tenant) or "")))
    settings.append(("token_uri", conf_string(p.endpoint(p.token_uri, tenant) or "")))
    settings.append(("client_id", conf_string(a.client_id)))
    if a.client_secret:
        settings.append(("client_secret", conf_string(a.client_secret)))
    settings.append(("scopes", _list(scopes)))
    if not a.device:
        fields = [("login_hint", a.email), *p.auth_uri_fields.items()]
        settings.append(("auth_uri_fields", _fields(fields)))
        if p.redirect_uri != REDIRECT_URI_DEFAULT:
            settings.append(("redirect_uri", conf_string(p.redirect_uri)))
    steps = [_fill(s, tenant, a.protocols) for s in p.register_steps]
    if not p.public_client and not a.client_secret:
        notes.append(
            f"{p.label} gives registered applications a client secret: add it with "
            "--client-secret (it is written only into your config file)"
        )
    register = [f"Register your own application at {p.register_page}", *steps]
    register.append("Use your own registration's client ID: never another program's")
    notes += list(p.quirks)
    return Plan(_block(a.name, settings), register, snippets(a, p.servers, p.sasl), notes)


def _fill(step: str, tenant: str | None, protocols: tuple[str, ...]) -> str:
    audience = _AUDIENCE.get(tenant or "", "Accounts in this organizational directory only")
    permissions = ", ".join(_PERMISSIONS[x] for x in protocols)
    return step.replace("{audience}", audience).replace("{permissions}", permissions)


def plan_oidc(a: Answers, m: Metadata) -> Plan:
    """The plan for any other provider, from its metadata."""
    assert a.name and a.email and a.client_id
    notes: list[str] = [f"Read the provider's metadata at {m.url}"]
    if a.device and m.device_authorization_endpoint is None:
        raise PlanError(
            "the provider's metadata names no device_authorization_endpoint: sign "
            "in with the browser instead (leave out --device)"
        )
    if not a.device and m.authorization_endpoint is None:
        raise PlanError(
            "the provider's metadata names no authorization_endpoint: only the "
            "device code can work (--device)"
        )
    if not a.device and not m.pkce_s256:
        notes.append(
            "The metadata does not say the provider supports PKCE with S256, which "
            "pizauth always sends: if the sign-in fails, ask the provider about it"
        )
    wanted = list(a.scopes or OIDC_DEFAULT_SCOPES)
    if m.scopes_supported:
        unknown = [s for s in wanted if s not in m.scopes_supported]
        if unknown:
            notes.append("The metadata does not list the scopes " + ", ".join(unknown))
    settings: list[tuple[str, str]] = []
    if a.device:
        settings.append(("device_auth_uri", conf_string(m.device_authorization_endpoint or "")))
    else:
        settings.append(("auth_uri", conf_string(m.authorization_endpoint or "")))
    settings.append(("token_uri", conf_string(m.token_endpoint)))
    settings.append(("client_id", conf_string(a.client_id)))
    if a.client_secret:
        settings.append(("client_secret", conf_string(a.client_secret)))
    settings.append(("scopes", _list(wanted)))
    if not a.device:
        fields = [("login_hint", a.email)]
        if "offline_access" in wanted:  # OpenID Connect grants it only with prompt=consent
            fields.append(("prompt", "consent"))
        settings.append(("auth_uri_fields", _fields(fields)))
    register = [
        f"Register your own application with the provider ({m.issuer or m.url})",
        "Application type: native (or desktop); redirect URI: http://localhost/ (a loopback "
        "redirect on any port)" + ("; allow the device code grant" if a.device else ""),
        "A public client needs no secret; for a confidential one give --client-secret",
        "Use your own registration's client ID: never another program's",
    ]
    return Plan(_block(a.name, settings), register, snippets(a, {}, "OAUTHBEARER"), notes)


def snippets(a: Answers, servers: dict[str, Server], sasl: str) -> str:
    """Working msmtp, mbsync and neomutt settings for the account."""
    assert a.name and a.email and a.protocols is not None
    cmd = (
        f"pizauth show {a.name}"
        if re.fullmatch(r"[\w.@+-]+", a.name)
        else ("pizauth show '" + a.name.replace("'", "'\\''") + "'")
    )
    mech = sasl.lower()
    imap = servers.get("imap", Server("IMAP-SERVER", 993, "implicit"))
    smtp = servers.get("smtp", Server("SMTP-SERVER", 465, "implicit"))
    pop = servers.get("pop", Server("POP-SERVER", 995, "implicit"))
    out: list[str] = []
    if "smtp" in a.protocols:
        starttls = "on" if smtp.tls == "starttls" else "off"
        out += [
            "# ~/.msmtprc",
            f"account {a.name}",
            f"host {smtp.host}",
            f"port {smtp.port}",
            "tls on",
            f"tls_starttls {starttls}",
            f"auth {mech}",
            f"user {a.email}",
            f"from {a.email}",
            f'passwordeval "{cmd}"',
            "",
        ]
    if "imap" in a.protocols:
        out += [
            "# ~/.mbsyncrc",
            f"IMAPAccount {a.name}",
            f"Host {imap.host}",
            f"Port {imap.port}",
            f"User {a.email}",
            f'PassCmd "{cmd}"',
            f"AuthMechs {sasl}",
            "TLSType IMAPS",
            "",
        ]
    out += ["# neomutt"]
    if "imap" in a.protocols:
        out += [
            f'set imap_user = "{a.email}"',
            f'set folder = "imaps://{imap.host}:{imap.port}/"',
            f'set imap_authenticators = "{mech}"',
            f'set imap_oauth_refresh_command = "{cmd}"',
        ]
    if "pop" in a.protocols:
        out += [
            f'set pop_user = "{a.email}"',
            f'set pop_host = "pops://{pop.host}:{pop.port}"',
            f'set pop_authenticators = "{mech}"',
            f'set pop_oauth_refresh_command = "{cmd}"',
        ]
    if "smtp" in a.protocols:
        scheme = "smtp" if smtp.tls == "starttls" else "smtps"
        out += [
            f'set smtp_url = "{scheme}://{a.email.replace("@", "%40")}@{smtp.host}:{smtp.port}"',
            f'set smtp_authenticators = "{mech}"',
            f'set smtp_oauth_refresh_command = "{cmd}"',
        ]
    if not servers:
        out.append("# Replace IMAP-SERVER, SMTP-SERVER and POP-SERVER with your provider's.")
    return "\n".join(out) + "\n"
