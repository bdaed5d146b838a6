"""The security headers every page, calendar and style sheet we serve carries."""

from __future__ import annotations

# No scripts, frames, images or fonts: only our own style sheet, and forms posted to us.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HSTS = "max-age=31536000"


def security_headers(*, https: bool) -> dict[str, str]:
    """The headers; Strict-Transport-Security only when people reach us over HTTPS."""
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        # The links carry tokens: no page we serve tells another site where it came from.
        "Referrer-Policy": "no-referrer",
        # Each page shows one person's answer: no shared cache keeps it.
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }
    if https:
        headers["Strict-Transport-Security"] = HSTS
    return headers
