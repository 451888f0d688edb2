"""The desktop's part of ``pizauth-dbus doctor``: the notification service, the desktop entry,
the keyring, and the pitfall of notifying twice. Verdicts as in
:mod:`pizauth_dbus.doctor.checks`; what a server or an SSH session legitimately lacks is a note.
"""

from __future__ import annotations

import os

from pizauth_dbus.blocking_calls import BusError
from pizauth_dbus.doctor.checks import Check, Context, Verdict
from pizauth_dbus.doctor.probe import Bus, find_data_file

NOTIFICATIONS = "org.freedesktop.Notifications"
SECRETS = "org.freedesktop.secrets"


def desktop_checks(ctx: Context) -> list[Check]:
    out: list[Check] = []
    bus = ctx.bus
    on = ctx.config.desktop_notifications if ctx.config else True
    graphical = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if bus is not None and not on:
        out.append(Check("desktop", "note", "desktop notifications are off in the config"))
    elif bus is not None:
        if bus.owner_pid(NOTIFICATIONS) is None and not bus.activatable(NOTIFICATIONS):
            verdict: Verdict = "fail" if graphical else "note"
            fix = (
                (
                    "start your desktop's notification service (or set "
                    "desktop_notifications = false;)"
                )
                if graphical
                else None
            )
            text = "no notification service" + (
                "" if graphical else " (fine without a desktop: show prints the URL)"
            )
            out.append(Check("desktop", verdict, text, fix))
        else:
            out.append(_notification_service(bus))
    entry = find_data_file("applications", "pizauth.desktop")
    if entry is None:
        out.append(
            Check(
                "desktop",
                "note",
                "no pizauth.desktop entry: notifications show no application name or icon",
                "run pizauth-dbus install",
            )
        )
    else:
        out.append(Check("desktop", "ok", f"desktop entry {entry}"))
    if (
        ctx.config
        and on
        and ctx.config.auth_notify_cmd
        and "notify-send" in ctx.config.auth_notify_cmd
    ):
        out.append(
            Check(
                "pitfall",
                "note",
                "auth_notify_cmd runs notify-send while native "
                "notifications are on: every prompt appears twice",
                "remove auth_notify_cmd, or set desktop_notifications = false;",
            )
        )
    return out


def _notification_service(bus: Bus) -> Check:
    path, iface = "/org/freedesktop/Notifications", NOTIFICATIONS
    try:
        name, vendor, version, _ = bus.call(NOTIFICATIONS, path, iface, "GetServerInformation")
        (caps,) = bus.call(NOTIFICATIONS, path, iface, "GetCapabilities")
    except BusError as e:
        if e.name == "org.freedesktop.DBus.Error.NameHasNoOwner":
            return Check("desktop", "ok", "a notification service starts on demand")
        return Check(
            "desktop",
            "fail",
            f"the notification service does not answer: {e}",
            "restart your desktop's notification service",
        )
    actions = "actions" in caps
    text = f"notification service {name} {version}" + (
        ", with actions" if actions else ", without actions: open the URL pizauth show prints"
    )
    return Check(
        "desktop",
        "ok" if actions else "note",
        text,
        details={"name": name, "vendor": vendor, "version": version, "actions": actions},
    )


def keyring_checks(ctx: Context) -> list[Check]:
    bus = ctx.bus
    wanted = ctx.config is not None and ctx.config.token_store == "keyring"
    if bus is None:
        return []
    present = bus.owner_pid(SECRETS) is not None or bus.activatable(SECRETS)
    if not present:
        if wanted:
            return [
                Check(
                    "keyring",
                    "fail",
                    'token_store is "keyring" but no Secret Service '
                    "is on the session bus: tokens are kept in memory only",
                    "start your keyring (GNOME Keyring, KWallet, KeePassXC)",
                )
            ]
        return []
    base = "/org/freedesktop/secrets"
    try:
        (coll,) = bus.call(
            SECRETS, base, "org.freedesktop.Secret.Service", "ReadAlias", "s", "default"
        )
        locked = False
        if coll != "/":
            (value,) = bus.call(
                SECRETS,
                coll,
                "org.freedesktop.DBus.Properties",
                "Get",
                "ss",
                "org.freedesktop.Secret.Collection",
                "Locked",
            )
            locked = bool(value[1])
    except BusError as e:
        if e.name == "org.freedesktop.DBus.Error.NameHasNoOwner":
            return [
                Check("keyring", "ok" if wanted else "note", "a Secret Service starts on demand")
            ]
        return [
            Check(
                "keyring",
                "fail" if wanted else "note",
                f"the Secret Service does not answer: {e}",
                "restart your keyring",
            )
        ]
    use = "" if wanted else ' (token_store is "memory": not used)'
    if coll == "/":
        return [
            Check(
                "keyring",
                "fail" if wanted else "note",
                f"the keyring has no default collection{use}",
                "create a default (login) keyring in your keyring manager",
            )
        ]
    if locked:
        return [
            Check(
                "keyring",
                "fail" if wanted else "note",
                f"the default keyring collection {coll} is locked{use}",
                "unlock it in your keyring manager (or log in again)",
            )
        ]
    return [
        Check(
            "keyring",
            "ok" if wanted else "note",
            f"Secret Service with an unlocked default collection {coll}{use}",
        )
    ]
