"""A Flatpak-like sandbox for one test: bubblewrap (the sandbox Flatpak itself is built on)
running a command in new user, pid, mount, IPC, UTS, cgroup and network namespaces, with only
the system's read-only directories, this checkout, the private bus's socket and a
``/.flatpak-info`` naming an app id inside.

The root is built from the host's top-level directories rather than bound whole, because a
read-only ``/`` cannot take the new file at ``/.flatpak-info``; the bus socket's directory is
bound after the ``/tmp`` tmpfs, which would otherwise hide it. A pathname Unix socket works
across network namespaces, so the sandboxed process reaches the bus as a Flatpak app given
``--socket=session-bus`` does.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.server import pizauth_command, run_cli

ROOT = Path(__file__).resolve().parent.parent
"""This checkout: the virtual environment and the editable install live in it."""
RUN_TIMEOUT = 30.0
"""Seconds one sandboxed command may take: they take well under one."""


def flatpak_info(app_id: str) -> str:
    """The text of a ``/.flatpak-info`` as Flatpak writes it for ``app_id``."""
    return (
        f"[Application]\nname={app_id}\nruntime=runtime/org.freedesktop.Platform/x86_64/23.08\n"
        "\n[Instance]\ninstance-id=1234567890\nbranch=stable\nflatpak-version=1.14.4\n"
        "\n[Context]\nshared=network;ipc;\nsockets=session-bus;\n"
    )


class Sandbox:
    """Runs commands as app ``app_id`` of a Flatpak-like sandbox that can reach ``socket_dir``.

    :param tmp_dir: where the ``/.flatpak-info`` to bind is written (the test's own).
    """

    def __init__(self, app_id: str, socket_dir: Path, tmp_dir: Path) -> None:
        if shutil.which("bwrap") is None:
            raise RuntimeError("bubblewrap (bwrap) is not installed: run scripts/setup.sh")
        self.app_id = app_id
        self.socket_dir = socket_dir
        self.info = tmp_dir / f"flatpak-info-{app_id}"
        self.info.write_text(flatpak_info(app_id))

    def argv(self, command: Sequence[str]) -> list[str]:
        """bubblewrap's command line around ``command``."""
        argv = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session"]
        for top in ("/usr", "/etc"):
            argv += ["--ro-bind", top, top]
        for link in ("bin", "sbin", "lib", "lib64"):
            target = Path("/") / link
            if target.is_symlink():
                argv += ["--symlink", str(target.readlink()), str(target)]
            elif target.is_dir():
                argv += ["--ro-bind", str(target), str(target)]
        argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        argv += ["--ro-bind", str(ROOT), str(ROOT)]
        python_home = Path(sys.base_prefix)
        if not python_home.is_relative_to("/usr"):  # an interpreter installed elsewhere
            argv += ["--ro-bind", str(python_home), str(python_home)]
        argv += ["--bind", str(self.socket_dir), str(self.socket_dir)]
        argv += ["--ro-bind", str(self.info), "/.flatpak-info"]
        return [*argv, "--", *command]

    def run(
        self,
        env: Mapping[str, str],
        command: Sequence[str],
        *,
        input: bytes | None = None,
        timeout: float = RUN_TIMEOUT,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``command`` inside with exactly ``env``; stdout and stderr captured as bytes."""
        # The CLI's one way of running a command, with bubblewrap's argv as the command.
        return run_cli(env, input=input, timeout=timeout, command=self.argv(command))

    def pizauth(
        self, env: Mapping[str, str], *args: str, input: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """The real ``pizauth`` CLI, run inside."""
        return self.run(env, [*pizauth_command(), *args], input=input)
