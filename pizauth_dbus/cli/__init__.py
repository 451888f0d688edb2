"""The short-lived, blocking programs: ``pizauth`` (every command but ``server`` is a D-Bus
client) and ``pizauth-dbus`` (install, uninstall, doctor).

Nothing here imports asyncio, dbus-fast, aiohttp, pyparsing or cryptography at module level,
and nothing imports this package: ``pizauth server`` reaches the server through one
function-level import.
"""
