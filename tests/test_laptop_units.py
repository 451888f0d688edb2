"""The pure parts of laptop life: which monitor states count as offline, and the clock-jump
detector (a suspend cannot be simulated in a container, but the clocks' gap can be fed), which
looks only while an account needs it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from pizauth_dbus.server import resume
from pizauth_dbus.server.network import nm_online
from pizauth_dbus.server.resume import JumpDetector
from pizauth_dbus.server.systembus import SystemBus


@pytest.mark.parametrize(
    ("state", "connectivity", "online"),
    [
        (70, 4, True),  # connected, full
        (60, 3, True),  # site only, limited: many networks block the check
        (50, 2, True),  # local only, captive portal
        (0, 0, True),  # unknown
        (None, None, True),  # not readable
        (20, 1, False),  # disconnected
        (10, 1, False),  # asleep
        (30, 1, False),  # disconnecting
        (40, 1, False),  # connecting
        (0, 1, False),  # unknown state, but no connectivity at all
    ],
)
def test_networkmanager_states(state: int | None, connectivity: int | None, online: bool) -> None:
    assert nm_online(state, connectivity) is online


def test_the_clock_jump_detector_sees_a_sleep_once() -> None:
    gaps = iter([100.0, 100.5, 700.5, 700.5, 701.0])
    detector = JumpDetector(lambda: next(gaps))
    assert detector.slept() == 0.0  # half a second of drift is no sleep
    assert detector.slept() == 600.0
    assert detector.slept() == 0.0  # the same sleep is not seen twice
    assert detector.slept() == 0.0


async def test_the_clock_detector_looks_only_while_an_account_needs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No system bus (so no logind): the detector is the only resume source, and would look
    # every MAX_WAIT; with no account that has a token or waits, it must not look at all.
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'none'}")
    monkeypatch.setattr(resume, "MAX_WAIT", 0.01)
    needed = False
    watch = resume.ResumeWatch(SystemBus(), needed=lambda: needed)
    looks: list[float] = []
    monkeypatch.setattr(watch, "check_clock", lambda: looks.append(time.monotonic()))
    watch.start()
    try:
        await asyncio.sleep(0.3)  # thirty of the detector's periods
        assert looks == []
        needed = True
        watch.wake()
        async with asyncio.timeout(5):
            while len(looks) < 3:
                await asyncio.sleep(0.01)
        assert watch.sources == ["clock"]
    finally:
        await watch.stop()
