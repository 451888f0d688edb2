"""Opening a URL in the person's browser, for a click on a notification.

The standard library's webbrowser module does the choosing (it honours ``$BROWSER``);
``xdg-open`` is the fallback. Never blocks the server, never raises.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import webbrowser

log = logging.getLogger(__name__)


def open_url(url: str) -> None:
    """Open ``url`` in the user's browser, in a thread of its own.

    The webbrowser module honours ``$BROWSER`` and otherwise prefers ``xdg-open`` when there is a
    display; when it finds nothing, ``xdg-open`` is tried anyway (it may still reach the desktop
    through D-Bus portals). A thread, because a browser command may not return until the
    browser exits; a daemon thread, so that such a browser cannot hold up the server's exit.
    """

    def run() -> None:
        try:
            if webbrowser.open(url):
                return
            if shutil.which("xdg-open"):
                subprocess.Popen(
                    ["xdg-open", url],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    start_new_session=True,
                )
                return
        except Exception as e:
            log.warning("Couldn't open a browser: %s", e)
            return
        log.warning("Couldn't open a browser: no $BROWSER, display or xdg-open")

    threading.Thread(target=run, name="open-url", daemon=True).start()
