"""One blueprint per resource."""

import orjson
from flask import current_app


def runtime():
    return current_app.extensions["aggregator"]


def json_response(body, status=200, headers=None):
    return current_app.response_class(orjson.dumps(body), status=status, headers=headers, mimetype="application/json")
