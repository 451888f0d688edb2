"""The doctor's security checks: what another user (or a program of another user) could change
to take over pizauth, and what it could read.

pizauth runs what its config and its hooks say, and the bus starts whatever its activation file
and the systemd unit name: whoever can write one of those files, a directory above one, or a
program a hook runs, runs their code as this user and can ask for every token. A config that
holds a ``client_secret`` gives that secret to whoever can read it. Each writable file is ✘ with
what fixes it; a readable secret is ! (an installed application's client secret is no strong
secret: RFC 8252, section 8.5). Nothing is changed here.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
from pathlib import Path

from pizauth_dbus.doctor.checks import Check, Context
from pizauth_dbus.doctor.probe import find_data_file, find_service_file, find_user_unit

HOOKS = (
    "auth_notify_cmd",
    "error_notify_cmd",
    "startup_cmd",
    "token_event_cmd",
    "transient_error_if_cmd",
)
"""The config's commands, each run with ``$SHELL -c``."""


def _others_can_write(path: Path) -> str | None:
    """Why someone other than this user (and root) can change ``path``: the file itself, or a
    directory above it, is writable by its group or by everyone, or owned by another user.
    None when nobody else can."""
    me = os.getuid()
    current = Path(os.path.abspath(path))
    for p in (current, *current.parents):
        try:
            st = p.stat()  # the target of a link: that is what gets read and run
        except OSError:
            continue
        what = "it" if p == current else f"its directory {p}"
        if st.st_uid not in (me, 0):
            return f"{what} belongs to another user (uid {st.st_uid})"
        sticky = stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX
        if st.st_mode & stat.S_IWOTH and not sticky:
            return f"{what} is writable by everyone"
        if st.st_mode & stat.S_IWGRP and not sticky and not _own_group(st.st_gid):
            return f"{what} is writable by its group (gid {st.st_gid})"
    return None


def _own_group(gid: int) -> bool:
    """Whether group ``gid`` is this user's alone (a user private group, as Debian makes)."""
    import grp
    import pwd

    try:
        group = grp.getgrgid(gid)
        name = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return False
    return gid == os.getgid() and set(group.gr_mem) <= {name}


def _fix(path: Path, why: str) -> str:
    if "directory" in why:
        return f"make the directories above {path} writable only by you (chmod go-w)"
    if "another user" in why:
        return f"replace {path} with a copy of your own"
    return f"chmod go-w {shlex.quote(str(path))}"


def _programs(command: str) -> list[Path]:
    """The programs a hook's command line names: words with a ``/`` that exist, and the
    first word looked up on ``PATH`` (the server's, when it was started from this session)."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return []
    found = [Path(w) for w in words if "/" in w and os.path.exists(w)]
    if words and "/" not in words[0] and (where := shutil.which(words[0])):
        found.insert(0, Path(where))
    return found


def tampering_checks(ctx: Context) -> list[Check]:
    """Files and programs others could change, and a secret others could read."""
    files: list[tuple[str, Path]] = []
    if ctx.config_path is not None and os.path.exists(ctx.config_path):
        files.append(("the config", Path(ctx.config_path)))
    service = find_service_file()
    if service is not None:
        files.append(("the activation file", service.path))
        if service.systemd_service and (unit := find_user_unit(service.systemd_service)):
            files.append(("the systemd unit", unit))
    if entry := find_data_file("applications", "pizauth.desktop"):
        files.append(("the desktop entry", entry))
    out: list[Check] = []
    for what, path in files:
        if why := _others_can_write(path):
            out.append(
                Check(
                    "security",
                    "fail",
                    f"{what} {path} can be changed by others: {why}",
                    _fix(path, why),
                    {"path": str(path)},
                )
            )
    config = ctx.config
    if config is not None:
        for option in HOOKS:
            command = getattr(config, option)
            for program in _programs(command) if command else []:
                if why := _others_can_write(program):
                    out.append(
                        Check(
                            "security",
                            "fail",
                            f"{option} runs {program}, which others can change: {why}",
                            _fix(program, why),
                            {"option": option, "path": str(program)},
                        )
                    )
        secret = [a.name for a in config.accounts.values() if a.client_secret is not None]
        if secret and ctx.config_path is not None:
            mode = os.stat(ctx.config_path).st_mode
            if mode & (stat.S_IRGRP | stat.S_IROTH):
                out.append(
                    Check(
                        "security",
                        "note",
                        f"{ctx.config_path} holds the client_secret of {', '.join(secret)} "
                        "and others can read it",
                        f"chmod 600 {shlex.quote(ctx.config_path)}",
                        {"path": ctx.config_path, "accounts": secret},
                    )
                )
    if not out and files:
        out.append(Check("security", "ok", "nobody else can change pizauth's files or hooks"))
    return out
