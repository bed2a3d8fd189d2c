"""One blueprint per resource: HTTP in and out, over the query functions of the package."""

import orjson
from flask import current_app


def json_response(body, status=200, headers=None):
    return current_app.response_class(orjson.dumps(body), status=status, headers=headers, mimetype="application/json")
