"""GET /openapi.json, generated from the pydantic models that validate requests."""

import functools

from flask import Blueprint, current_app
from pydantic import TypeAdapter
from pydantic.json_schema import models_json_schema

from ..models import Error, Event, EventPage, EventsQuery, PublishAccepted, Stats
from . import json_response

bp = Blueprint("openapi", __name__)

REF = "#/components/schemas/{model}"


def _error(description):
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
    }


def _ok(description, model=None, status="200"):
    content = {"schema": {"$ref": REF.format(model=model)}} if model else {"schema": {"type": "object"}}
    return {status: {"description": description, "content": {"application/json": content}}}


def _read(summary, responses):
    """An operation that needs the read token."""
    return {
        "summary": summary,
        "security": [{"bearer": ["read"]}],
        "responses": {**responses, "401": _error("Missing or invalid read token")},
    }


def _query_parameters():
    schema = EventsQuery.model_json_schema()
    params = []
    for name, prop in schema["properties"].items():
        # Optional fields are anyOf [X, null]; a query string has no null.
        options = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
        param_schema = {k: v for k, v in options[0].items() if k != "title"}
        params.append({"name": name, "in": "query", "required": False, "schema": param_schema})
    return params


@functools.cache
def build(max_events):
    _, defs = models_json_schema(
        [
            (PublishAccepted, "serialization"),
            (EventPage, "serialization"),
            (Stats, "serialization"),
            (Error, "serialization"),
        ],
        ref_template=REF,
    )
    # Event is a TypedDict, which models_json_schema does not take.
    defs["$defs"]["Event"] = TypeAdapter(Event).json_schema(mode="validation", ref_template=REF)
    event_ref = {"$ref": REF.format(model="Event")}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Event aggregator", "version": "1.0.0"},
        "paths": {
            "/publish": {
                "post": {
                    "summary": "Publish one event or an array of events; answers after commit",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        event_ref,
                                        {"type": "array", "items": event_ref, "minItems": 1, "maxItems": max_events},
                                    ]
                                }
                            }
                        },
                    },
                    "security": [{"bearer": ["write"]}],
                    "responses": {
                        **_ok("Committed", "PublishAccepted", "202"),
                        "401": _error("Missing or invalid write token; nothing stored"),
                        "400": _error("Malformed JSON"),
                        "413": _error("Body or event count too large"),
                        "415": _error("Not JSON"),
                        "422": _error("Invalid events; nothing stored"),
                        "503": _error("Database or queue unavailable; retry after Retry-After"),
                    },
                }
            },
            "/events": {
                "get": {
                    "summary": "Stored events, ordered by (timestamp, topic, event_id)",
                    "parameters": _query_parameters(),
                    "security": [{"bearer": ["read"]}],
                    "responses": {
                        **_ok("A page of events", "EventPage"),
                        "401": _error("Missing or invalid read token"),
                        "422": _error("Invalid parameters"),
                    },
                }
            },
            "/stats": {"get": _read("Exact counters", _ok("Counters", "Stats"))},
            "/replication": {"get": _read("Replication health", _ok("Standbys, slots, alerts"))},
            "/backups": {
                "get": _read("Backup and WAL archiving health", _ok("Newest backup per type, archiver, alerts"))
            },
            "/graphql": {
                "post": {
                    **_read(
                        "The read-only GraphQL gateway (schema by introspection); bad queries are GraphQL errors",
                        {**_ok("A GraphQL result: data and, when any, errors"), "400": _error("No usable query")},
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["query"],
                                    "properties": {
                                        "query": {"type": "string"},
                                        "variables": {"type": ["object", "null"]},
                                        "operationName": {"type": ["string", "null"]},
                                    },
                                }
                            }
                        },
                    },
                },
                "get": {
                    **_read(
                        "The same gateway with query parameters",
                        {**_ok("A GraphQL result: data and, when any, errors"), "400": _error("No usable query")},
                    ),
                    "parameters": [
                        {"name": "query", "in": "query", "required": True, "schema": {"type": "string"}},
                        {"name": "variables", "in": "query", "required": False, "schema": {"type": "string"}},
                        {"name": "operationName", "in": "query", "required": False, "schema": {"type": "string"}},
                    ],
                },
            },
            "/status": {
                "get": {
                    "summary": "The status page (HTML; it reads /graphql with the read token it is given)",
                    "responses": {
                        "200": {"description": "The page", "content": {"text/html": {"schema": {"type": "string"}}}}
                    },
                }
            },
            "/health": {"get": {"summary": "Liveness", "responses": _ok("Alive")}},
            "/ready": {
                "get": {
                    "summary": "Database reachable, or reached within READY_GRACE_SECONDS",
                    "responses": {**_ok("Ready"), "503": {"description": "Not ready"}},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "security": [{"bearer": ["metrics"]}],
                    "responses": {
                        "200": {"description": "Metrics", "content": {"text/plain": {"schema": {"type": "string"}}}},
                        "401": _error("Missing or invalid metrics token"),
                    },
                }
            },
        },
        "components": {
            "schemas": defs["$defs"],
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Per-deployment tokens: write (POST /publish), read, metrics",
                }
            },
        },
    }


@bp.get("/openapi.json")
def openapi():
    return json_response(build(current_app.config["MAX_EVENTS_PER_REQUEST"]))
