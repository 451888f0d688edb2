"""How a caller is identified from what ``/proc`` shows of it, and what each kind may call:
``server/callers.py``'s pure parts, on process directories laid out as the kernel shows them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.sandbox import flatpak_info
from pizauth_dbus.server.callers import FLATPAK, SNAP, UNCHECKED, Caller, identify, refusal

HOST_CGROUP = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/mutt.scope\n"


def _proc(tmp_path: Path, cgroup: str = HOST_CGROUP, info: str | None = None) -> str:
    """A /proc holding process 42 with ``cgroup`` and, when given, a root with ``info``."""
    pid = tmp_path / "proc" / "42"
    (pid / "root").mkdir(parents=True)
    (pid / "cgroup").write_text(cgroup)
    (pid / "stat").write_text("42 (mutt) S 1 42 42 0 -1 4194560 1004 0 0 0 3 1 0 0 20 0 1 0\n")
    if info is not None:
        (pid / "root" / ".flatpak-info").write_text(info)
    return str(tmp_path / "proc")


def test_flatpak_info_names_the_app(tmp_path: Path) -> None:
    caller = identify(42, proc=_proc(tmp_path, info=flatpak_info("org.mozilla.Thunderbird")))
    assert caller == Caller(FLATPAK, "org.mozilla.Thunderbird", "its /.flatpak-info")


def test_an_unreadable_flatpak_info_is_an_app_without_an_id(tmp_path: Path) -> None:
    caller = identify(42, proc=_proc(tmp_path, info="not an ini file\n[\n"))
    assert (caller.sandbox, caller.app) == (FLATPAK, "")
    assert refusal(caller, "Show", ("",)) is not None


def test_cgroup_scopes_name_flatpak_and_snap_apps(tmp_path: Path) -> None:
    flatpak = (
        "0::/user.slice/user@1000.service/app.slice/app-flatpak-org.gnome.Evolution-4242.scope\n"
    )
    assert identify(42, proc=_proc(tmp_path / "a", flatpak)) == Caller(
        FLATPAK, "org.gnome.Evolution", "its app-flatpak cgroup scope"
    )
    snap = "0::/user.slice/user@1000.service/app.slice/snap.thunderbird.thunderbird-1a2b.scope\n"
    assert identify(42, proc=_proc(tmp_path / "b", snap)) == Caller(
        SNAP, "thunderbird", "its snap cgroup scope"
    )


def test_apparmor_labels_name_snaps(tmp_path: Path) -> None:
    proc = _proc(tmp_path)
    (Path(proc) / "42" / "attr").mkdir()
    (Path(proc) / "42" / "attr" / "current").write_text("snap.thunderbird.thunderbird (enforce)\n")
    assert identify(42, proc=proc) == Caller(SNAP, "thunderbird", "its AppArmor label")
    # The bus's own label for the connection decides even without a process to look at.
    assert identify(None, b"snap.firefox.firefox (enforce)\0").app == "firefox"


def test_a_host_process_is_served(tmp_path: Path) -> None:
    caller = identify(42, b"unconfined\0", proc=_proc(tmp_path))
    assert caller == Caller(None, "", "no sign of a sandbox")
    assert refusal(caller, "Dump", ()) is None
    assert identify(os.getpid()).sandbox is None  # this very process, in the real /proc
    assert identify(None).sandbox is None  # the bus named no process: nothing says sandbox


def test_a_process_that_cannot_be_examined_is_refused(tmp_path: Path) -> None:
    caller = identify(43, proc=_proc(tmp_path))
    assert caller.sandbox == UNCHECKED and "process 43 cannot be examined" in caller.evidence
    assert refusal(caller, "Show", ()) == (
        "Access denied: the calling process could not be checked (process 43 cannot be "
        "examined: No such file or directory), so it is refused as an app in a sandbox would be"
    )


def test_a_zombie_is_refused(tmp_path: Path) -> None:
    proc = _proc(tmp_path)
    (Path(proc) / "42" / "stat").write_text("42 (a) b) c) Z 1 42 42 0 -1 4194560 1004 0\n")
    assert identify(42, proc=proc) == Caller(UNCHECKED, "", "process 42 has exited")


def test_a_pidfd_of_an_exited_process_exposes_a_reused_pid(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    pidfd = os.pidfd_open(child.pid)
    try:
        child.wait(timeout=10)
        # Its pid now "belongs" to another process: this test's own, as a reused pid would.
        assert identify(os.getpid(), pidfd=pidfd) == Caller(
            UNCHECKED, "", f"process {os.getpid()} has exited"
        )
    finally:
        os.close(pidfd)
    alive = os.pidfd_open(os.getpid())
    try:
        assert identify(os.getpid(), pidfd=alive).sandbox is None
    finally:
        os.close(alive)


def test_what_each_caller_may_call() -> None:
    app = Caller(FLATPAK, "org.example.Mail", "its /.flatpak-info")
    assert refusal(app, "Show", ("org.example.Mail",)) is None
    assert refusal(app, "Reload", ("org.example.Mail",)) is None
    for member in ("Dump", "Restore"):
        assert refusal(app, member, ("org.example.Mail",)) == (
            "Access denied: the Flatpak app org.example.Mail runs in a sandbox, and no "
            f"sandboxed app may use {member}"
        )
    assert "allowed_apps" in (refusal(app, "Status", ("org.example.Other",)) or "")
