"""Real providers' error answers, one for each entry of the provider data file's hint table.

Each case is ``(hint id, the token endpoint's JSON answer, the account's scopes, the flow)``:
the answer as that provider sends it, so that the unit tests can check each hint against its
own provider's shape and the server tests can send the same answer through the fake endpoint.
"""

from __future__ import annotations

MAIL = "https://mail.google.com/"
"""Google's mail scope, which some of its answers are told apart by."""


def _ms(code: int, error: str, text: str) -> dict[str, object]:
    """An answer in the shape Microsoft's token endpoint sends."""
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {text} Trace ID: 0f4c Correlation ID: 9a1b "
        "Timestamp: 2026-12-04 10:00:00Z",
        "error_codes": [code],
        "timestamp": "2026-12-04 10:00:00Z",
        "trace_id": "0f4c",
        "correlation_id": "9a1b",
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }


CASES: list[tuple[str, dict[str, object], tuple[str, ...], str]] = [
    (
        "ms-personal-account",
        _ms(
            50020,
            "invalid_request",
            "User account 'me@outlook.com' from identity provider "
            "'live.com' does not exist in tenant 'Contoso' and cannot access the application.",
        ),
        (),
        "redirect",
    ),
    (
        "ms-redirect-mismatch",
        _ms(
            50011,
            "invalid_request",
            "The redirect URI 'http://localhost:4711/' specified in "
            "the request does not match the redirect URIs configured for the application.",
        ),
        (),
        "redirect",
    ),
    (
        "ms-admin-consent",
        _ms(
            65001,
            "invalid_grant",
            "The user or administrator has not consented to use the "
            "application with ID '1234' named 'mail'.",
        ),
        (),
        "redirect",
    ),
    (
        "ms-app-disabled",
        _ms(7000112, "unauthorized_client", "Application 'mail'(1234) is disabled."),
        (),
        "redirect",
    ),
    (
        "ms-conditional-access",
        _ms(
            53003,
            "invalid_grant",
            "Access has been blocked by Conditional Access policies. "
            "The access policy does not allow token issuance.",
        ),
        (),
        "device",
    ),
    (
        "ms-refresh-inactive",
        _ms(
            700082,
            "invalid_grant",
            "The refresh token has expired due to inactivity. The "
            "token was issued on 2026-08-01 and was inactive for 90.00:00:00.",
        ),
        (),
        "refresh",
    ),
    (
        "ms-public-client",
        _ms(
            7000218,
            "invalid_client",
            "The request body must contain the following parameter: "
            "'client_assertion' or 'client_secret'.",
        ),
        (),
        "redirect",
    ),
    (
        "ms-common-single-tenant",
        _ms(
            50194,
            "invalid_request",
            "Application 'mail'(1234) is not configured as a "
            "multi-tenant application. Usage of the /common endpoint is not supported.",
        ),
        (),
        "redirect",
    ),
    (
        "google-testing-expired",
        {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
        (MAIL,),
        "refresh",
    ),
    ("google-device-mail-scope", {"error": "invalid_scope"}, (MAIL,), "device"),
    (
        "google-client-not-found",
        {"error": "invalid_client", "error_description": "The OAuth client was not found."},
        (MAIL,),
        "redirect",
    ),
]
"""(hint id, answer, scopes, flow): every hint in the table, with an answer it explains."""
