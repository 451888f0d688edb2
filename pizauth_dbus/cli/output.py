"""What ``pizauth status`` and ``pizauth info`` print, from the server's structured answers.

Client side and light (no asyncio, no server modules), and pure: :mod:`pizauth_dbus.cli.pizauth`
asks the server and prints. The texts are upstream's, because completions and scripts read them.
"""

from __future__ import annotations

import json
import time
from typing import Any

UNKNOWN_TIME = "<unknown time>"


def rfc2822(t: int | float | None) -> str:
    """A Unix time as local RFC 2822 text, day of month not zero-padded."""
    if not t:
        return UNKNOWN_TIME
    try:
        lt = time.localtime(t)
    except (OverflowError, OSError, ValueError):
        return UNKNOWN_TIME
    day = time.strftime("%a", lt)
    return f"{day}, {lt.tm_mday} {time.strftime('%b %Y %H:%M:%S %z', lt)}"


def status_line(name: str, state: str, times: dict[str, Any]) -> str:
    """One ``<name>: <state>`` line."""
    match state:
        case "empty":
            text = "No access token"
        case "pending" if times.get("last_notification"):
            text = (
                "Access token pending authentication (last notification "
                f"{rfc2822(times['last_notification'])})"
            )
        case "pending":
            text = "Access token pending authentication"
        case "device":
            # Upstream's words first, so scripts that look for them still find them.
            text = "Access token pending authentication: waiting for the code to be entered"
            if times.get("last_notification"):
                text += f" (last notification {rfc2822(times['last_notification'])})"
        case "active":
            text = (
                f"Active access token (obtained {rfc2822(times.get('obtained'))}; "
                f"expires {rfc2822(times.get('expiry'))})"
            )
        case "expired" if times.get("last_refresh_attempt"):
            text = (
                "Access token expired (last refresh attempt "
                f"{rfc2822(times['last_refresh_attempt'])})"
            )
        case _:
            text = "Access token expired (refresh not yet attempted)"
    return f"{name}: {text}{_keyring_note(times)}{_network_note(times)}"


def _keyring_note(times: dict[str, Any]) -> str:
    """With ``token_store = "keyring"``: whether the token is kept there, and whether it was
    resumed from there (nothing for memory-only accounts, so upstream's lines are unchanged)."""
    if times.get("keyring_unsaved"):
        return " [keyring: not saved, memory only; see the server's log]"
    notes = []
    if times.get("keyring_resumed"):
        notes.append(f"resumed at start {rfc2822(times['keyring_resumed'])}")
    if times.get("keyring_saved"):
        notes.append(f"saved {rfc2822(times['keyring_saved'])}")
    return f" [keyring: {'; '.join(notes)}]" if notes else ""


def _network_note(times: dict[str, Any]) -> str:
    """While offline, for an account that waits for the network (refreshes or sign-in)."""
    if not times.get("network_wait"):
        return ""
    return f" [waiting for the network since {rfc2822(times['network_wait'])}]"


def format_status(rows: list[Any]) -> str:
    """All lines, sorted as whole lines (as upstream: ``a b: ...`` comes before ``a: ...``)."""
    return "\n".join(sorted(status_line(str(n), str(s), dict(t)) for n, s, t in rows))


def format_info(
    pn: str,
    version: str,
    format_version: int,
    cache: str,
    conf: str,
    server: dict[str, str] | None,
    as_json: bool,
) -> str:
    """``info``'s text (or with ``as_json``, its one line of JSON); ``server`` is None when no
    server runs."""
    if as_json:
        out: dict[str, Any] = {
            "cache_directory": cache,
            "config_file": conf,
            "executed_as": pn,  # the program's file name, as upstream
            "info_format_version": format_version,
            "pizauth_version": version,
            "server_running": server is not None,
        }
        if server is not None:
            out["server_info"] = dict(sorted(server.items()))
        # UTF-8 as it is, as upstream writes it, not "\u00e9".
        return json.dumps(out, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    lines = [f"{pn} version {version}:", f"  cache directory: {cache}", f"  config file: {conf}"]
    if server is None:
        lines.append("server not running")
    else:
        lines += [
            "server running:",
            f"  HTTP port: {server.get('http_port', 'none')}",
            f"  HTTPS port: {server.get('https_port', 'none')}",
        ]
        if "https_pub_key" in server:
            lines.append(f"  HTTPS public key: {server['https_pub_key']}")
        if "https_cert_sha256" in server:
            lines.append(f"  HTTPS certificate SHA-256: {server['https_cert_sha256']}")
    return "\n".join(lines)
