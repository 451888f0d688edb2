"""Every length of time the server waits for something, in one place.

Most are upstream's fixed times. The test suite shortens some of them through environment
variables (pizauth(1) lists them); a user has no reason to set those. Light on purpose: only os.
"""

from __future__ import annotations

import os


def tunable_seconds(name: str, default: float) -> float:
    """``default``, unless the environment variable ``name`` holds a non-negative number."""
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value >= 0 else default


HTTP_TIMEOUT = tunable_seconds("PIZAUTH_HTTP_TIMEOUT", 30.0)
"""Whole-request timeout for every POST to a token endpoint (upstream: 30 s)."""
EXCHANGE_RETRY_GAP = tunable_seconds("PIZAUTH_EXCHANGE_RETRY_GAP", 6.0)
"""Seconds between tries of a code exchange that got no HTTP answer (upstream: 6 s)."""
NOTIFY_TIMEOUT = tunable_seconds("PIZAUTH_HOOK_TIMEOUT", 10.0)
"""auth_notify_cmd, error_notify_cmd and token_event_cmd each get 10 s (upstream)."""
TRANSIENT_TIMEOUT = tunable_seconds("PIZAUTH_TRANSIENT_HOOK_TIMEOUT", 180.0)
"""transient_error_if_cmd may take 3 minutes, e.g. to wait for a network to come back."""
HANDSHAKE_TIMEOUT = tunable_seconds("PIZAUTH_TLS_HANDSHAKE_TIMEOUT", 0.5)
"""Seconds the HTTPS redirect listener gives a TLS handshake. A browser on the same machine
needs a few milliseconds; a client that stalls in the middle is cut this soon."""
CONNECTION_TIMEOUT = tunable_seconds("PIZAUTH_REDIRECT_TIMEOUT", 10.0)
"""Seconds a redirect connection may stay open, TLS handshake included, before it is closed.

aiohttp has no limit on the time a client takes to send its request headers, so a client
that sends half a request (or nothing) would hold its connection for ever. A browser sends the
whole redirect at once, and every answer closes the connection, so a generous fixed deadline
per connection costs a real client nothing."""
LISTENER_SHUTDOWN_TIMEOUT = 1.0
"""Seconds in-flight redirect requests get when the server stops (answers are immediate)."""
MAX_WAIT = tunable_seconds("PIZAUTH_CLOCK_CHECK", 37.0)
"""Where no resume source answers (no logind on a system bus), the clock-jump detector looks
this often (seconds) whether the machine slept: asyncio's timers run on the monotonic clock,
which stops during suspend, so a timer set before the lid closed fires late. A prime, as
upstream chose it, so the wake-ups don't fall into step with other periodic jobs."""
RESUME_BACKSTOP = tunable_seconds("PIZAUTH_RESUME_BACKSTOP", 293.0)
"""With logind announcing resumes, the clock-jump detector still looks this often, because
systemd may skip ``PrepareForSleep(false)`` after hibernation. Also a prime."""
CLOCK_JUMP = 2.0
"""The boot clock running this much further ahead of the monotonic clock than at the last
look means the machine was suspended in between."""
RESUME_DEBOUNCE = 5.0
"""A second resume announcement within this many seconds is the same resume (elogind sends
``PrepareForSleep(false)`` twice; the clock jump may be seen after logind's signal)."""
RESUME_WINDOW = tunable_seconds("PIZAUTH_RESUME_WINDOW", 60.0)
"""For this long after a resume or the network's return, a failed refresh is retried after
:data:`RESUME_RETRY` instead of ``refresh_retry``, and does not count towards
``transient_error_if_cmd``: the network is most likely still coming up."""
RESUME_RETRY = tunable_seconds("PIZAUTH_RESUME_RETRY", 3.0)
"""Seconds between refresh attempts in the :data:`RESUME_WINDOW`."""
OFFLINE_RETRY = tunable_seconds("PIZAUTH_OFFLINE_RETRY", 300.0)
"""While the network monitor says offline, failed refreshes are retried no sooner than this
(or ``refresh_retry``, if longer): slower, but never stopped, since a monitor can be wrong."""
SYSTEM_BUS_TIMEOUT = 2.0
"""Seconds connecting to the system bus, or one question to a service on it, may take."""
REFRESH_RETRY_MIN = tunable_seconds("PIZAUTH_REFRESH_RETRY_MIN", 1.0)
"""A failed refresh is retried no sooner than this, whatever ``refresh_retry`` says: upstream
retries ``refresh_retry = 0s;`` (a typo, say) in a hot loop that keeps the server busy and
hammers the provider. One second keeps 0s meaning "at once" to a person."""
MIN_REFRESH_GAP = 5.0
"""A token is never refreshed sooner than this after it was obtained (nor sooner than half its
lifetime), unless it lives less than this: however short-lived a provider's tokens and whatever
``refresh_before_expiry`` says, refreshes cannot follow each other in a hot loop."""
BUS_CALL_TIMEOUT = 10.0
"""Seconds the server waits for any one answer on its bus connection (the bus daemon, the
keyring, the notification service) unless the caller chooses less: a peer that owns a name but
never reads must not stall the duty that asked."""
NOTIFICATION_OP_TIMEOUT = 10.0
"""Seconds one exchange with the notification service may take: a hung service must not
stall the desktop notifications' queue behind it forever."""
NOTIFICATION_BACKOFF_FIRST = 30.0
NOTIFICATION_BACKOFF_MAX = 900.0
"""After a failure, notifications pause for the first of these, doubling up to the second (the
default ``auth_notify_interval``), so that a broken service is not asked, and its failure not
logged, at every reminder. A new service owning the name ends the pause."""
KEYRING_CALL_TIMEOUT = tunable_seconds("PIZAUTH_KEYRING_TIMEOUT", 5.0)
"""Seconds one call to the Secret Service may take before the keyring counts as unusable."""
KEYRING_START_WAIT = tunable_seconds("PIZAUTH_KEYRING_START_WAIT", 1.0)
"""Seconds the starting server waits for the keyring's tokens before it takes its bus name:
enough for a healthy keyring (milliseconds), short enough that a hung one barely delays the
first ``show``. Tokens read later are resumed then."""
KEYRING_RETRY = tunable_seconds("PIZAUTH_KEYRING_RETRY", 60.0)
"""While the keyring is unusable and work is left, try again this often (and at once when a
new Secret Service appears or a collection changes)."""
DEVICE_REQUEST_TIMEOUT = tunable_seconds("PIZAUTH_DEVICE_REQUEST_TIMEOUT", 20.0)
"""Seconds ``show`` waits for the provider to issue a device code: less than the CLI's own
30 s, so that a slow provider gets its own message rather than "not running"."""
DEVICE_INTERVAL = tunable_seconds("PIZAUTH_DEVICE_INTERVAL", 5.0)
"""Seconds between polls for a device code's token when the provider names no ``interval``
(RFC 8628 section 3.2: 5 s)."""
DEVICE_INTERVAL_MIN = min(1.0, DEVICE_INTERVAL)
"""The shortest gap between two polls, whatever ``interval`` a provider names (0 would poll in
a hot loop)."""
DEVICE_SLOW_DOWN = 5.0
"""Seconds added to the polling interval at every ``slow_down`` (RFC 8628 section 3.5)."""
DEVICE_BACKOFF_MAX = 60.0
"""After a transport failure the polling interval doubles (RFC 8628 section 3.5), up to this."""
