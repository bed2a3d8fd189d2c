"""GET /health (process alive), GET /ready (database reachable), GET /metrics."""

from flask import Blueprint, current_app
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .. import auth, metrics
from ..db import RETRYABLE
from ..runtime import current_runtime
from . import json_response

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    return json_response({"status": "ok"})


@bp.get("/ready")
def ready():
    try:
        with current_runtime().primary_reads.cursor() as cur:
            cur.execute("SELECT pg_is_in_recovery()")
            (in_recovery,) = cur.fetchone()
    except RETRYABLE as exc:
        headers = {"Retry-After": str(current_app.config["RETRY_AFTER_SECONDS"])}
        return json_response(
            {"status": "unavailable", "database": "unreachable", "message": str(exc).strip()}, 503, headers
        )
    return json_response({"status": "ready", "database": "reachable", "writable": not in_recovery})


@bp.get("/metrics")
def prometheus_metrics():
    auth.check("metrics")
    return current_app.response_class(generate_latest(metrics.registry()), mimetype=CONTENT_TYPE_LATEST)
