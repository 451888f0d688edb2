"""The harness: infrastructure built from real parts, for the tests, the demo and the
benchmarks. A private dbus-daemon, an oidc-provider authorisation server, a scriptable fake
token endpoint, a stand-in for the person at the browser, real notification servers, and the
real pizauth server and CLI run as subprocesses.

Every wait here is bounded, and every process started here is stopped by its owner's ``stop()``
(and, as a last resort, when the test process exits).
"""
