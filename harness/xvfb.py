"""A virtual X display for one test, and a person's hands and eyes on it.

:class:`Xvfb` runs the X server Xvfb on a free display number (it picks one itself and says which
through ``-displayfd``, so parallel runs cannot collide), without TCP. Pointer clicks go through
xdotool, as a person's would: the X server sees real button presses at a place on the screen, and
the application under the pointer reacts as it would to a mouse. Screenshots are ImageMagick's
``import`` of the root window; :func:`dark_lines` finds lines of text in them, to find a button by
its label rather than by a hard-coded offset.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from tempfile import gettempdir
from typing import Self

from harness.procs import popen_ready, read_text, stop_group, wait_until
from harness.service import Service

START_TIMEOUT = 10.0
"""Seconds Xvfb gets to open its display: it takes a fraction of a second."""

TOOL_TIMEOUT = 10.0
"""Seconds one xdotool or ImageMagick command may take."""

SCREEN = "1280x800x24"
"""The screen; its root window is white (``-wr``), so screenshots' margins look like a page."""

NO_TCP = ("-wr", "-nolisten", "tcp")
"""A white root window (see :data:`SCREEN`), and no TCP listener: clients use the socket."""

DARK = 110
"""Grey levels below this count as ink (text, icons) on a light notification background."""


@dataclass(frozen=True)
class Window:
    """A window on the display, placed in root-window coordinates."""

    id: int
    x: int
    y: int
    width: int
    height: int


class Xvfb(Service):
    """A running Xvfb; also a context manager that stops it.

    :param log_path: where Xvfb's output goes.
    """

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self.display = ""

    def start(self) -> Self:
        """Start Xvfb and wait (bounded) until it serves its display.

        :raises RuntimeError: when it exits or stays silent; the message holds its output.
        """
        self._proc, number = popen_ready(
            lambda fd: ["Xvfb", "-displayfd", str(fd), "-screen", "0", SCREEN, *NO_TCP],
            what="Xvfb display",
            # TMPDIR marks it as the test run's (scripts/test.sh looks for leftovers so).
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TMPDIR": gettempdir()},
            log_path=self.log_path,
            timeout=START_TIMEOUT,
        )
        self.display = f":{number}"
        socket = Path(f"/tmp/.X11-unix/X{number}")
        if not wait_until(socket.exists, START_TIMEOUT):
            self.stop()
            raise RuntimeError(f"Xvfb made no socket {socket}:\n{read_text(self.log_path)}")
        return self

    def stop(self) -> None:
        """Stop Xvfb (bounded); idempotent."""
        if self._proc is not None:
            stop_group(self._proc)

    def started(self) -> bool:
        return self._proc is not None

    # -- hands and eyes -----------------------------------------------------------------------

    def run(self, *argv: str) -> bytes:
        """Run an X client (xdotool, import, ...) on this display; returns its stdout.

        :raises subprocess.CalledProcessError: when it fails.
        """
        return subprocess.run(
            argv,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DISPLAY": self.display},
            capture_output=True,
            timeout=TOOL_TIMEOUT,
            check=True,
        ).stdout

    def windows(self, name: str) -> list[Window]:
        """The visible windows whose title matches the regular expression ``name``."""
        try:
            out = self.run("xdotool", "search", "--onlyvisible", "--name", name)
        except subprocess.CalledProcessError:
            return []  # xdotool exits 1 when nothing matches
        found = []
        for wid in out.split():
            try:
                geometry = self.run("xdotool", "getwindowgeometry", "--shell", wid.decode())
            except subprocess.CalledProcessError:
                continue  # gone since the search
            g = {k: int(v) for k, v in (f.split("=", 1) for f in geometry.decode().split())}
            found.append(Window(g["WINDOW"], g["X"], g["Y"], g["WIDTH"], g["HEIGHT"]))
        return found

    def click(self, x: int, y: int) -> None:
        """Move the pointer to (x, y) and press and release the left button there."""
        self.run("xdotool", "mousemove", "--sync", str(x), str(y), "click", "1")
        # Park the pointer in a corner, so that hover effects don't change the next screenshot.
        self.run("xdotool", "mousemove", "0", "0")

    def screenshot(self, path: Path, window: Window | None = None, margin: int = 0) -> Path:
        """Save the screen, or just ``window`` with ``margin`` pixels around it, as a PNG."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.run("import", "-window", "root", str(path))
        if window is not None:
            x, y = max(0, window.x - margin), max(0, window.y - margin)
            w, h = window.width + 2 * margin, window.height + 2 * margin
            subprocess.run(
                ["convert", str(path), "-crop", f"{w}x{h}+{x}+{y}", "+repage", str(path)],
                capture_output=True,
                timeout=TOOL_TIMEOUT,
                check=True,
            )
        return path

    def grey(self, window: Window) -> list[bytes]:
        """The pixels of ``window`` as it is on screen now, one row of grey levels per line."""
        png = self.run("import", "-window", "root", "png:-")
        crop = f"{window.width}x{window.height}+{window.x}+{window.y}"
        to_grey = ["-colorspace", "gray", "-depth", "8", "gray:-"]
        raw = subprocess.run(
            ["convert", "png:-", "-crop", crop, "+repage", *to_grey],
            input=png,
            capture_output=True,
            timeout=TOOL_TIMEOUT,
            check=True,
        ).stdout
        w = window.width
        return [raw[i * w : (i + 1) * w] for i in range(window.height)]


@dataclass(frozen=True)
class Box:
    """A rectangle in a window's own coordinates."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def centre(self) -> tuple[int, int]:
        return (self.left + self.right) // 2, (self.top + self.bottom) // 2


def dark_lines(rows: list[bytes], left: int, right: int, top: int, bottom: int) -> list[Box]:
    """The lines of ink inside the given part of an image, top to bottom, each as its box.

    A line is a run of rows holding ink between ``left`` and ``right``; its box spans the ink.
    """
    lines: list[Box] = []
    start: int | None = None
    xs: list[int] = []
    for y in range(top, bottom + 1):
        row = rows[y] if y < bottom else b""
        ink = [x for x in range(left, min(right, len(row))) if row[x] < DARK]
        if ink:
            start = y if start is None else start
            xs += (ink[0], ink[-1])
        elif start is not None:
            lines.append(Box(min(xs), start, max(xs), y - 1))
            start, xs = None, []
    return lines
