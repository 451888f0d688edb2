"""The load row's floor: a bare ``Echo(s) -> s`` exported with dbus-fast, as the server exports
``Show``, so that the ratio is what pizauth adds on top of the library.

Run by the benchmark with the bench venv's Python: ``python echo_service.py``; it owns
``org.pizauth.BenchEcho`` on the session bus until SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal

from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusStr
from dbus_fast.service import ServiceInterface, dbus_method

NAME = "org.pizauth.BenchEcho"
PATH = "/org/pizauth/BenchEcho"


class Echo(ServiceInterface):
    def __init__(self) -> None:
        super().__init__(NAME)

    @dbus_method()
    def Echo(self, text: DBusStr) -> DBusStr:
        return text


async def main() -> None:
    bus = await MessageBus().connect()
    bus.export(PATH, Echo())
    await bus.request_name(NAME)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    bus.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
