"""pizauth-dbus: an OAuth2 token helper served on the D-Bus session bus.

This file must stay free of imports: the ``pizauth show`` fast path imports the package.
"""

__version__ = "0.1.0"

BUS_NAME = "org.pizauth"
OBJECT_PATH = "/org/pizauth"
INTERFACE = "org.pizauth.Manager"
