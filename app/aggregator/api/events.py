"""GET /events: stored events ordered by (timestamp, topic, event_id), keyset pages."""

from flask import Blueprint, current_app, request
from pydantic import ValidationError

from .. import auth, events
from ..errors import ApiError, details_from_pydantic
from ..models import EventsQuery
from ..runtime import current_runtime
from . import json_response

bp = Blueprint("events", __name__)
bp.before_request(auth.require("read"))


@bp.get("/events")
def list_events():
    try:
        query = EventsQuery.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise ApiError(
            422, "validation", "invalid query parameters", details_from_pydantic(exc, indexed=False)
        ) from None
    config = current_app.config
    limit = min(query.limit or config["EVENTS_LIMIT_DEFAULT"], config["EVENTS_LIMIT_MAX"])
    return json_response(events.page(current_runtime().reads, query, limit))
