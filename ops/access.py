"""Who may read the ops endpoints beyond what the public sees: staff, or a token."""

from __future__ import annotations

import hmac

from django.http import HttpRequest


def bearer_token_matches(request: HttpRequest, *, token: str) -> bool:
    """True when the request carries `Authorization: Bearer <token>` and `token` is set."""
    if not token:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def is_ops_staff(request: HttpRequest) -> bool:
    """An active staff user allowed to see the ops dashboard."""
    user = request.user
    return bool(
        user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm("ops.view_dashboard")
    )
