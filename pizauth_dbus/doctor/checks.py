"""The checks of ``pizauth-dbus doctor``, one function per area, each returning its lines.

A check never changes anything and never starts anything. Its verdict is ``ok`` (✔), ``fail``
(✘: something the person must fix, with the fix in one sentence) or ``note`` (!: worth knowing,
or legitimately absent, such as no notification service over SSH).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pizauth_dbus import BUS_NAME
from pizauth_dbus.blocking_calls import BusError
from pizauth_dbus.busaddr import ADDRESS_VARIABLE, session_bus_address
from pizauth_dbus.config.model import Account, Config
from pizauth_dbus.config.providers import Provider
from pizauth_dbus.doctor.probe import Bus, find_service_file, find_user_unit
from pizauth_dbus.errors import error_text
from pizauth_dbus.proxyenv import describe
from pizauth_dbus.urls import normalise

Verdict = Literal["ok", "fail", "note"]
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


@dataclass(frozen=True)
class Check:
    area: str
    verdict: Verdict
    text: str
    fix: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """What the checks share: the bus (None when unreachable) and the config (None when it
    does not load)."""

    bus: Bus | None = None
    config: Config | None = None
    config_path: str | None = None
    online: bool = False
    server_running: bool = False


def bus_checks(ctx: Context) -> list[Check]:
    address, how = session_bus_address()
    if address is None:
        return [
            Check(
                "bus",
                "fail",
                f"no session bus: {how}",
                "log in to a desktop session, or run the program under dbus-run-session",
            )
        ]
    found = "from $" + ADDRESS_VARIABLE if how == ADDRESS_VARIABLE else f"at {how}"
    try:
        ctx.bus = Bus(address)
    except Exception as e:  # refused, bad address, authentication: all "no bus"
        return [
            Check(
                "bus",
                "fail",
                f"the session bus at {address} ({found}) refuses: {e}",
                "check that the session's dbus-daemon or dbus-broker is running",
            )
        ]
    return [
        Check(
            "bus",
            "ok",
            f"session bus {address} ({found})",
            details={"address": address, "found": how},
        )
    ]


def server_checks(ctx: Context, this_program: str) -> list[Check]:
    bus = ctx.bus
    if bus is None:
        return []
    pid = bus.owner_pid(BUS_NAME)
    if pid is not None:
        try:
            props = bus.server_properties()
        except BusError as e:
            why = "does not answer" if e.name is None else "is not a pizauth-dbus server"
            return [
                Check(
                    "server",
                    "fail",
                    f"{BUS_NAME} is owned by process {pid}, which {why}",
                    f"stop process {pid} (kill {pid}); the next pizauth show starts a fresh server",
                    {"pid": pid},
                )
            ]
        ctx.server_running = True
        started = props.get("StartedAt")
        uptime = f", up {_duration(time.time() - started)}" if started else ""
        conf = props.get("ConfigPath", "?")
        out = [
            Check(
                "server",
                "ok",
                f"running: pid {pid}, version {props.get('Version', '?')}{uptime}, config {conf}",
                details={"pid": pid, **props},
            )
        ]
        if ctx.config_path and conf != os.path.abspath(ctx.config_path):
            out.append(
                Check(
                    "server",
                    "note",
                    f"the server read {conf}, not {ctx.config_path}",
                    "run pizauth reload after editing the file the server reads",
                )
            )
        return (
            out
            + network_checks(props.get("Network"))
            + failure_checks(bus)
            + activation_checks(ctx, this_program, needed=False)
        )
    return [
        Check("server", "note", "not running (the first pizauth show starts it)"),
        *activation_checks(ctx, this_program, needed=True),
    ]


def _proxies(variables: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(variables.items())) or "no proxy"


def network_checks(network: Any) -> list[Check]:
    """What the running server follows (network monitor, resume sources) and the proxy it
    uses, next to the proxy of the shell running the doctor."""
    if not isinstance(network, dict):
        return []  # a server from before the Network property
    monitor, resume = network.get("monitor", "none"), network.get("resume", "clock")
    out = [
        Check(
            "network",
            "ok",
            f"{network.get('state', '?')}; network monitor: {monitor}; resumes from: {resume}",
            details=dict(network),
        )
    ]
    server = {k: v for k, v in network.items() if k.endswith("_proxy")}
    shell = describe()
    if server == shell:
        out.append(Check("proxy", "ok", f"server and this shell: {_proxies(server)}"))
    else:
        names = " ".join(sorted(set(server) | set(shell)))
        out.append(
            Check(
                "proxy",
                "note",
                f"the server uses {_proxies(server)}; this shell has {_proxies(shell)}",
                "hand the shell's variables to the server: dbus-update-activation-environment "
                f"{names} (or systemctl --user import-environment {names}), then pizauth shutdown",
            )
        )
    return out


def failure_checks(bus: Bus) -> list[Check]:
    """Each account's last failure, as the server keeps it, with what to do about it (the
    error-hint table's answer; the server's message alone when no known cause explains it)."""
    try:
        (rows,) = bus.server("Errors")
    except BusError:  # a server from before Errors existed: nothing to report
        return []
    out = []
    for account, message, hint in rows:
        out.append(
            Check(
                "server",
                "fail",
                f"account {account}: {message}",
                hint or f"run pizauth show {account} to sign in again",
                {"account": account, "hint": hint},
            )
        )
    return out


def activation_checks(ctx: Context, this_program: str, *, needed: bool) -> list[Check]:
    bad: Verdict = "fail" if needed else "note"
    service = find_service_file()
    assert ctx.bus is not None
    activatable = ctx.bus.activatable(BUS_NAME)
    if service is None:
        if activatable:
            return [
                Check(
                    "activation",
                    "ok",
                    "the bus can start the server (its service "
                    "file is outside the usual directories)",
                )
            ]
        return [
            Check(
                "activation",
                bad,
                "no D-Bus activation file for org.pizauth",
                "run pizauth-dbus install",
            )
        ]
    exe = service.exec_argv[0] if service.exec_argv else ""
    details = {"service_file": str(service.path), "exec": service.exec_argv}
    if not exe or not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        return [
            Check(
                "activation",
                bad,
                f"{service.path} runs {exe or 'nothing'}, which does "
                "not exist or is not executable",
                "run pizauth-dbus install again",
                details,
            )
        ]
    out = [Check("activation", "ok", f"{service.path} runs {exe}", details=details)]
    if os.path.realpath(exe) != os.path.realpath(this_program):
        out.append(
            Check(
                "activation",
                "note",
                f"the activation file starts {exe}, not this installation's {this_program}",
                "run pizauth-dbus install from the installation you want to use",
            )
        )
    if not activatable:
        out.append(
            Check(
                "activation",
                bad,
                "the bus does not list org.pizauth as activatable",
                "run pizauth-dbus install again: it has the bus read the file",
            )
        )
    unit = service.systemd_service
    by_systemd = ctx.bus.owner_pid("org.freedesktop.systemd1") is not None
    if unit and not by_systemd:
        out.append(
            Check("activation", "ok", "the bus is not run by systemd: it runs that program itself")
        )
    if unit and by_systemd:
        path = find_user_unit(unit)
        if path is None:
            out.append(
                Check(
                    "activation",
                    bad,
                    f"the bus is run by systemd, which starts {unit}, but no such user unit exists",
                    "run pizauth-dbus install",
                )
            )
        else:
            out.append(Check("activation", "ok", f"systemd starts it as {unit} ({path})"))
    return out


def config_checks(ctx: Context, explicit: str | None) -> list[Check]:
    from pizauth_dbus.config.loader import load
    from pizauth_dbus.errors import ConfigError
    from pizauth_dbus.paths import config_path

    try:
        path = config_path(explicit)
        ctx.config_path = path
        ctx.config = load(path)
    except ConfigError as e:
        missing = str(e).startswith("No config file found") or (
            explicit is not None and not os.path.exists(explicit)
        )
        fix = (
            "write one (pizauth.conf(5) has examples), or give its path with -c"
            if missing
            else "fix the file: the server would refuse it too"
        )
        return [Check("config", "fail", str(e), fix)]
    config = ctx.config
    out = [
        Check(
            "config",
            "ok",
            f"{path}: {len(config.accounts)} account(s)",
            details={"path": path, "accounts": list(config.accounts)},
        )
    ]
    out += [Check("config", "note", w, "update the file as the note says") for w in config.warnings]
    for account in config.accounts.values():
        out += _account_checks(config, account)
    return out


def _flow(account: Account) -> str:
    return "device" if getattr(account, "device_auth_uri", None) else "redirect"


def _provider_of(account: Account) -> Provider | None:
    """The provider in the provider data whose endpoints the account uses, if any."""
    from pizauth_dbus.config.providers import load

    uris = [account.token_uri, account.auth_uri, getattr(account, "device_auth_uri", None)]
    hosts = {urlsplit(normalise(u)).hostname for u in uris if u}
    for provider in load().providers.values():
        if hosts & {urlsplit(provider.token_uri).hostname, urlsplit(provider.auth_uri).hostname}:
            return provider
    return None


def _account_checks(config: Config, account: Account) -> list[Check]:
    name = account.name
    if _flow(account) == "device":
        provider = _provider_of(account)
        if provider is not None and not provider.device_flow:
            refused = provider.device_flow_refused or f"{provider.label} has no device flow"
            return [
                Check(
                    "config",
                    "fail",
                    f"account {name}: device flow with {provider.label}: {refused}",
                    f"remove device_auth_uri from {name} and sign in with the redirect",
                )
            ]
        return [Check("config", "ok", f"account {name}: device flow")]
    redirect = urlsplit(normalise(account.redirect_uri))
    listen = config.http_listen if redirect.scheme == "http" else config.https_listen
    listen_host = (listen or "").rpartition(":")[0].strip("[]")
    host = redirect.hostname or ""
    to_loopback = host in _LOOPBACK_NAMES or host.startswith("127.")
    listens_loopback = listen_host in ("localhost", "::1") or listen_host.startswith("127.")
    where = f"{account.redirect_uri} to the {redirect.scheme.upper()} listener on {listen}"
    if to_loopback and not (listens_loopback or listen_host in ("0.0.0.0", "::", "")):
        return [
            Check(
                "config",
                "fail",
                f"account {name}: redirects to {host}, but the "
                f"{redirect.scheme.upper()} listener is on {listen}: the browser's "
                "redirect never reaches it",
                f"set {redirect.scheme}_listen to a loopback address such as "
                '"127.0.0.1:0", or give the account a redirect_uri that reaches it',
            )
        ]
    if not to_loopback:
        return [
            Check(
                "config",
                "note",
                f"account {name}: redirects to {host}, not to this "
                "machine: only works when that name leads to the listener (a tunnel)",
                'use redirect_uri = "http://localhost/" unless you forward the port',
            )
        ]
    return [Check("config", "ok", f"account {name}: redirect flow, {where}")]


def online_checks(ctx: Context) -> list[Check]:
    if not ctx.online or ctx.config is None:
        return []
    out = []
    for account in ctx.config.accounts.values():
        uris = [account.auth_uri, account.token_uri, getattr(account, "device_auth_uri", None)]
        for uri in dict.fromkeys(u for u in uris if u):
            problem = _reachable(uri)
            if problem:
                out.append(
                    Check(
                        "online",
                        "fail",
                        f"account {account.name}: {uri}: {problem}",
                        "check the address, the network and any proxy",
                    )
                )
            else:
                out.append(Check("online", "ok", f"account {account.name}: {uri} answers"))
    return out


def _reachable(uri: str) -> str | None:
    import socket
    import ssl

    parts = urlsplit(normalise(uri))
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            if parts.scheme == "https":
                with ssl.create_default_context().wrap_socket(sock, server_hostname=host):
                    pass
    except (OSError, ssl.SSLError) as e:
        return error_text(e)
    return None


def _duration(seconds: float) -> str:
    s = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def this_program() -> str:
    """The ``pizauth`` of this installation (next to the running ``pizauth-dbus``)."""
    import sys

    return str(Path(sys.argv[0]).resolve().parent / "pizauth")
