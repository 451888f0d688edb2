"""The rows a long-running server feels: ``Show`` under many bus clients, memory, idle wake-ups."""

from __future__ import annotations

import asyncio
import select
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchenv import (
    READY_WAIT,
    SETTLE,
    Rig,
    accounts_config,
    context_switches,
    cpu_seconds,
    restore_tokens,
    rss_kib,
    wait_name,
)
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus
from rowtypes import Row

from harness.server import BUS_NAME

ECHO_NAME = "org.pizauth.BenchEcho"
SERVER_IMPORTS = (
    "import asyncio, ssl, dbus_fast.aio, dbus_fast.service, aiohttp, aiohttp.web, pyparsing, "
    "ada_url, jeepney.io.blocking"
)
"""What the measured servers need from outside the standard library (no HTTPS listener, no
notifications): the floor of their memory."""


async def _load(
    address: str, clients: int, calls: int, pid: int, dest: str, path: str, iface: str
) -> tuple[float, float]:
    """``clients`` connections, each making ``calls`` calls one after another, all at once.

    :returns: the CPU seconds process ``pid`` spent and the wall seconds, from the first call to
        the last reply (connecting and disconnecting, which may cost it too, are left out).
    """
    member = "Show" if dest == BUS_NAME else "Echo"
    buses: list[MessageBus] = []

    async def client(bus: MessageBus) -> None:
        for _ in range(calls):
            reply = await bus.call(
                Message(
                    destination=dest,
                    path=path,
                    interface=iface,
                    member=member,
                    signature="s",
                    body=["a0"],
                )
            )
            if reply is None or reply.message_type != MessageType.METHOD_RETURN:
                raise RuntimeError(f"{member} failed: {reply and reply.body}")

    try:
        async with asyncio.timeout(READY_WAIT * 6):
            for _ in range(clients):
                buses.append(await MessageBus(bus_address=address).connect())
            cpu, t = cpu_seconds(pid), time.perf_counter()
            await asyncio.gather(*(client(b) for b in buses))
            return cpu_seconds(pid) - cpu, time.perf_counter() - t
    finally:
        for b in buses:
            b.disconnect()


def load_rows(rig: Rig, bin_dir: Path, clients: int, calls: int, rounds: int) -> list[Row]:
    """Server CPU per ``Show`` under ``clients`` concurrent clients, against dbus-fast's floor."""
    config_text = accounts_config(1)
    server = rig.server(config_text, bin_dir, name="load")
    restore_tokens(server, config_text)
    echo = subprocess.Popen(
        [str(bin_dir / "python"), str(Path(__file__).with_name("echo_service.py"))],
        env=rig.env,
        stdin=subprocess.DEVNULL,
    )
    rig.stack.callback(echo.wait, 10)
    rig.stack.callback(echo.terminate)
    wait_name(rig.bus, owned=True, name=ECHO_NAME)
    targets = {
        "show": (server.pid, BUS_NAME, "/org/pizauth", "org.pizauth.Manager"),
        "echo": (echo.pid, ECHO_NAME, "/org/pizauth/BenchEcho", ECHO_NAME),
    }
    per_call: dict[str, list[float]] = {k: [] for k in targets}
    wall: dict[str, list[float]] = {k: [] for k in targets}
    for i in range(rounds + 1):
        for name, target in targets.items():
            cpu, elapsed = asyncio.run(_load(rig.bus.address, clients, calls, *target))
            if i:  # the first round warms both up
                per_call[name].append(cpu / (clients * calls))
                wall[name].append(elapsed)
    s, e = (statistics.median(per_call[k]) for k in ("show", "echo"))
    ws, we = (statistics.median(wall[k]) for k in ("show", "echo"))
    return [
        Row(
            "load",
            f"server CPU per Show / per bare Echo, {clients} clients",
            s / e,
            2.0,
            f"Show {s * 1e6:.0f} µs, Echo {e * 1e6:.0f} µs CPU per call; "
            f"{clients * calls} calls in {ws:.2f} s / {we:.2f} s",
        )
    ]


@dataclass
class Idle:
    """Servers left alone while the other rows run on other buses; their context switches are
    read at the start and the end of the window."""

    servers: dict[str, int] = field(default_factory=dict)
    start: dict[str, int] = field(default_factory=dict)
    started: float = 0.0

    def begin(self) -> None:
        self.start = {k: context_switches(pid) for k, pid in self.servers.items()}
        self.started = time.monotonic()

    def rows(self, window: float) -> list[Row]:
        left = window - (time.monotonic() - self.started)
        if left > 0:
            time.sleep(left)
        minutes = (time.monotonic() - self.started) / 60
        targets = {"no account authorised": 0.0}
        out = []
        for k, pid in self.servers.items():
            n = (context_switches(pid) - self.start[k]) / minutes
            out.append(
                Row(
                    "idle",
                    f"wake-ups per minute, {k}",
                    n,
                    targets.get(k, 2.0),
                    f"context switches over {minutes * 60:.0f} s",
                    unit="/min",
                )
            )
        return out


def memory_rows(
    empty: Rig, one: Rig, many: Rig, bin_dir: Path, accounts: int, idle: Idle
) -> list[Row]:
    """RSS of servers with 1 and ``accounts`` Active accounts against an imports-only process.

    The three servers (one with no token at all) then stay idle for :class:`Idle`.
    """
    empty_server = empty.server(accounts_config(3), bin_dir, name="empty")
    rss: dict[str, int] = {}
    for label, rig, n in (("1", one, 1), (str(accounts), many, accounts)):
        text = accounts_config(n)
        server = rig.server(text, bin_dir, name=f"mem{n}")
        restore_tokens(server, text)
        r = server.cli("show", f"a{n - 1}")
        assert r.returncode == 0, r.stderr
        time.sleep(SETTLE)
        rss[label] = rss_kib(server.pid)
        idle.servers[f"{n} Active account{'s' if n > 1 else ''}"] = server.pid
    idle.servers = {"no account authorised": empty_server.pid, **idle.servers}
    floor = _imports_only_rss(bin_dir, one.env)
    ctx = f"{{}} KiB vs imports only {floor} KiB"
    return [
        Row("memory", "RSS, 1 Active account / imports only", rss["1"] / floor, None,
            ctx.format(rss["1"])),
        Row("memory", f"RSS, {accounts} Active accounts / imports only",
            rss[str(accounts)] / floor, 1.5, ctx.format(rss[str(accounts)])),
    ]  # fmt: skip


def _imports_only_rss(bin_dir: Path, env: dict[str, str]) -> int:
    code = f"{SERVER_IMPORTS}\nimport sys\nprint('ready', flush=True)\nsys.stdin.read()"
    proc = subprocess.Popen(
        [str(bin_dir / "python"), "-c", code],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        ready, _, _ = select.select([proc.stdout], [], [], READY_WAIT)
        if not ready or proc.stdout.readline() != b"ready\n":
            raise RuntimeError("the imports-only process failed")
        time.sleep(SETTLE)
        return rss_kib(proc.pid)
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(10)
