"""POST /publish: validate, queue for group commit, answer once committed."""

import re
from datetime import UTC, datetime

import orjson
from flask import Blueprint, current_app, request
from pydantic import TypeAdapter, ValidationError

from .. import auth, metrics
from ..budget import OverBudget
from ..errors import ApiError, details_from_pydantic, unavailable
from ..ingest import QueueFull, Rejected, Unavailable
from ..models import Event
from ..runtime import current_runtime
from . import json_response

bp = Blueprint("publish", __name__)
bp.before_request(auth.require("write"))

EVENT = TypeAdapter(Event)
EVENTS = TypeAdapter(list[Event])
NUL_ESCAPE = b"\\u0000"
# A NUL character inside a serialized JSON string: \u0000 after an even run of backslashes
# (an odd run makes it the literal text "\u0000").
NUL_IN_JSON = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def _reject(status, error, message, details=None, headers=None):
    metrics.REJECTED.labels(reason=error).inc()
    return ApiError(status, error, message, details, headers)


def _parse(body, max_events):
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _reject(400, "malformed_json", f"request body is not valid JSON: {exc}") from None
    try:
        if isinstance(data, dict):
            return [EVENT.validate_python(data)], False
        if isinstance(data, list):
            if len(data) > max_events:
                raise _reject(413, "too_many_events", f"{len(data)} events in one request; the maximum is {max_events}")
            if not data:
                raise _reject(422, "validation", "the event array is empty", [{"field": "body", "message": "empty"}])
            return EVENTS.validate_python(data), True
    except ValidationError as exc:
        details = details_from_pydantic(exc, indexed=isinstance(data, list))
        raise _reject(422, "validation", "invalid events; nothing was stored", details) from None
    raise _reject(
        422,
        "validation",
        "body must be an event object or an array of events",
        [{"field": "body", "message": "wrong type"}],
    )


def _payload_problem(payload, max_payload):
    serialized = b"null" if payload is None else orjson.dumps(payload)
    if len(serialized) > max_payload:
        return f"payload is {len(serialized)} bytes; the maximum is {max_payload}"
    if NUL_IN_JSON.search(serialized):
        return "payload strings may not contain NUL (\\u0000)"
    return None


def _rows(events, indexed, config):
    """Serialize each event once, as the JSON object the batch insert reads.

    The payload is serialized on its own only when the whole row could break a payload
    rule: a row within the size limit holds a payload within it, and only the payload
    can hold NUL (the other fields' patterns exclude it)."""
    default_topic = config["DEFAULT_TOPIC"]
    max_payload = config["MAX_PAYLOAD_BYTES"]
    now = datetime.now(UTC)
    rows, details = [], []
    for index, event in enumerate(events):
        if not event.get("topic"):
            event["topic"] = default_topic
        if event.get("timestamp") is None:
            event["timestamp"] = now
        row = orjson.dumps(event)
        if len(row) > max_payload or NUL_ESCAPE in row:
            problem = _payload_problem(event.get("payload"), max_payload)
            if problem:
                details.append({"index": index if indexed else None, "field": "payload", "message": problem})
        rows.append(row)
    if details:
        raise _reject(422, "validation", "invalid events; nothing was stored", details)
    return rows


@bp.post("/publish")
def publish():
    config = current_app.config
    if request.mimetype != "application/json":
        raise _reject(415, "unsupported_media_type", "send Content-Type: application/json")
    # The body's size is held against the worker's byte budget until the answer.
    size = request.content_length or config["MAX_CONTENT_LENGTH"]
    try:
        with current_runtime().body_budget.reserve(size):
            return _publish(config)
    except OverBudget:
        metrics.REJECTED.labels(reason="body_budget").inc()
        refusal = unavailable("too many bytes of requests in flight; retry later", config["RETRY_AFTER_SECONDS"])
        # The body stays unread: closing the connection spares the worker reading it to reuse it.
        refusal.headers["Connection"] = "close"
        raise refusal from None


def _publish(config):
    events, indexed = _parse(request.get_data(cache=False), config["MAX_EVENTS_PER_REQUEST"])
    rows = _rows(events, indexed, config)
    retry_after = config["RETRY_AFTER_SECONDS"]
    try:
        unique, duplicates = current_runtime().ingest.submit(rows, timeout=config["RETRY_DEADLINE_SECONDS"] + 5)
    except QueueFull:
        metrics.REJECTED.labels(reason="queue_full").inc()
        raise unavailable("ingestion queue is full; retry later", retry_after) from None
    except Unavailable as exc:
        metrics.REJECTED.labels(reason="database_unavailable").inc()
        raise unavailable(f"{exc}; nothing acknowledged, retry later", retry_after) from None
    except Rejected as exc:
        raise _reject(422, "rejected_by_database", str(exc)) from None
    metrics.RECEIVED.inc(len(rows))
    body = {"status": "accepted", "count": len(rows), "unique": unique, "duplicates": duplicates}
    return json_response(body, 202)
