"""``pizauth server``: the one asyncio process that holds the tokens. Its duties (state,
commands, the Manager interface, the refresher, reminders, authorisation, redirects, the device
flow, waiters, persistence, dump, hooks, hardening, TLS) are built and wired in
:mod:`pizauth_dbus.server.process`. May import config, oauth and the shared leaves.
"""
