"""GET /health (process alive), GET /ready (database reachable), GET /metrics."""

import logging

from flask import Blueprint, current_app
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .. import auth, metrics, partitions
from ..build import RUNNING as BUILD
from ..db import RETRYABLE
from ..runtime import current_runtime
from . import json_response

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/health")
def health():
    """Alive, and which build of the code this node runs."""
    return json_response({"status": "ok", "build": BUILD})


@bp.get("/ready")
def ready():
    """Ready: every configured writer runs and the database answers, or answered within
    READY_GRACE_SECONDS (the writers hold events through a switchover meanwhile).
    Anyone may ask (the balancers' health check has no token), so the answer names no
    database detail: that goes to the log."""
    runtime = current_runtime()
    headers = {"Retry-After": str(current_app.config["RETRY_AFTER_SECONDS"])}
    alive, configured = runtime.writers_alive()
    if alive < configured:
        log.error("not ready: %d of %d writers run", alive, configured)
        body = {"status": "unavailable", "writers": alive, "writers_configured": configured}
        return json_response({**body, "message": "not every writer runs"}, 503, headers)
    try:
        with runtime.primary_reads.cursor() as cur:
            cur.execute("SELECT pg_is_in_recovery()")
            (in_recovery,) = cur.fetchone()
    except RETRYABLE as exc:
        silent = runtime.database_silent_for()
        if silent < current_app.config["READY_GRACE_SECONDS"]:
            # A switchover or a failover's first seconds: the writers hold the events.
            log.info("ready while the database is silent for %.1f s: %s", silent, str(exc).strip())
            body = {"status": "ready", "database": "unreachable", "holding_writes_s": round(silent, 1)}
            return json_response({**body, "writers": alive})
        log.warning("not ready: the database does not answer: %s", str(exc).strip())
        body = {"status": "unavailable", "database": "unreachable", "message": "the database does not answer"}
        return json_response(body, 503, headers)
    runtime.database_answered()
    return json_response({"status": "ready", "database": "reachable", "writable": not in_recovery, "writers": alive})


@bp.get("/metrics")
def prometheus_metrics():
    auth.check("metrics")
    body = generate_latest(metrics.registry())
    try:
        with current_runtime().primary_reads.cursor() as cur:
            body += generate_latest(metrics.retention_registry(partitions.status(cur)))
    except RETRYABLE as exc:  # the process's own metrics still answer
        log.warning("retention metrics unavailable: %s", str(exc).strip())
    return current_app.response_class(body, mimetype=CONTENT_TYPE_LATEST)
