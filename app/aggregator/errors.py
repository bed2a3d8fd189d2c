"""One JSON error shape for every failure: {"error", "message", "details"}."""

import psycopg2
from flask import current_app, jsonify
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    def __init__(self, status, error, message, details=None, headers=None):
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.details = details or []
        self.headers = headers or {}


def unavailable(message, retry_after):
    return ApiError(503, "unavailable", message, headers={"Retry-After": str(retry_after)})


def details_from_pydantic(exc, indexed):
    """Turn pydantic errors into [{index, field, message}], index = position in the array."""
    details = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = list(err["loc"])
        index = None
        if indexed and loc and isinstance(loc[0], int):
            index = loc.pop(0)
        # A union body reports the branch name first ("Event" or "list[Event]").
        loc = [part for part in loc if part not in ("Event", "list[Event]")]
        if indexed and loc and isinstance(loc[0], int):
            index = loc.pop(0)
        field = ".".join(str(part) for part in loc) or "body"
        details.append({"index": index, "field": field, "message": err["msg"]})
    return details


def register(app):
    @app.errorhandler(ApiError)
    def api_error(exc):
        body = {"error": exc.error, "message": exc.message, "details": exc.details}
        return jsonify(body), exc.status, exc.headers

    @app.errorhandler(psycopg2.OperationalError)
    @app.errorhandler(psycopg2.InterfaceError)
    def database_unavailable(exc):
        body = {"error": "unavailable", "message": "database unavailable; retry later", "details": []}
        return jsonify(body), 503, {"Retry-After": str(current_app.config["RETRY_AFTER_SECONDS"])}

    @app.errorhandler(HTTPException)
    def http_error(exc):
        name = exc.name.lower().replace(" ", "_")
        body = {"error": name, "message": exc.description, "details": []}
        # Keep what the exception says beyond its body, e.g. Allow on a 405 (RFC 9110).
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        return jsonify(body), exc.code, headers
