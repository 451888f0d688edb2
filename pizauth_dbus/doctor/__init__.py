"""``pizauth-dbus doctor``: read-only checks of a person's set-up, run in the short-lived
``pizauth-dbus`` process. Talks to the server over the bus, never imports it (or oauth) at
module level.
"""
