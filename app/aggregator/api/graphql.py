"""POST /graphql (and GET ?query=): the read-only GraphQL gateway, behind the read token.
A query that does not parse, validate or resolve answers 200 with GraphQL `errors`;
a request without a query is a 400 in the project's error shape."""

import json

from flask import Blueprint, request

from .. import auth
from ..errors import ApiError
from ..gateway import schema
from . import json_response

bp = Blueprint("graphql", __name__)
bp.before_request(auth.require("read"))


def _bad(field, message):
    return ApiError(400, "validation", message, [{"index": None, "field": field, "message": message}])


def _arguments():
    """(query, variables, operation name) of a POST JSON body or GET parameters."""
    if request.method == "POST":
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise _bad("body", "the body must be a JSON object with a query")
        variables = body.get("variables")
    else:
        body = request.args
        try:
            variables = json.loads(body["variables"]) if body.get("variables") else None
        except ValueError as exc:
            raise _bad("variables", "variables must be a JSON object") from exc
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise _bad("query", "a GraphQL query string is required")
    if variables is not None and not isinstance(variables, dict):
        raise _bad("variables", "variables must be a JSON object")
    operation = body.get("operationName")
    if operation is not None and not isinstance(operation, str):
        raise _bad("operationName", "operationName must be a string")
    return query, variables, operation


@bp.route("/graphql", methods=["GET", "POST"])
def graphql():
    query, variables, operation = _arguments()
    result = schema.execute_sync(query, variable_values=variables, operation_name=operation)
    body = {"data": result.data}
    if result.errors:
        body["errors"] = [error.formatted for error in result.errors]
    return json_response(body)
