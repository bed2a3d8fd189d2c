"""Bearer tokens, one set per scope: "write" for POST /publish, "read" for /events,
/stats and /replication, "metrics" for /metrics. /health and /ready stay open for load
balancers. Each scope takes a list, so a rotation keeps the old and the new token valid
at once."""

import hmac

from flask import current_app, request

from .errors import ApiError

SCOPES = ("write", "read", "metrics")


def config_key(scope):
    return f"{scope.upper()}_TOKENS"


def tokens(value):
    """Tokens from a list or a comma-separated string (environment variables)."""
    if isinstance(value, str | int):  # the environment gives a string (or a number: from_prefixed_env)
        value = str(value).split(",")
    items = value or []
    return [str(item).strip() for item in items if str(item).strip()]


def check(scope):
    """Raise 401 unless the request carries a token of `scope`."""
    if not current_app.config["AUTH_REQUIRED"]:
        return
    kind, _, presented = request.headers.get("Authorization", "").partition(" ")
    valid = current_app.config[config_key(scope)]
    # compare_digest against every token: the time taken says nothing about a match.
    matches = [hmac.compare_digest(presented.encode(), token.encode()) for token in valid]
    if kind.lower() != "bearer" or not presented or not any(matches):
        raise ApiError(
            401,
            "unauthorized",
            f"send Authorization: Bearer <token> with a {scope} token",
            [{"field": "Authorization", "message": "missing or invalid bearer token"}],
            {"WWW-Authenticate": f'Bearer realm="aggregator", scope="{scope}"'},
        )


def require(scope):
    """A before_request hook for a blueprint whose every route needs `scope`."""

    def hook():
        check(scope)

    return hook
