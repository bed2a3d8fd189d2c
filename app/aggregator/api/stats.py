"""GET /stats: exact counters, read in one statement (one snapshot)."""

from flask import Blueprint

from .. import auth
from ..runtime import current_runtime
from ..stats import current as current_stats
from . import json_response

bp = Blueprint("stats", __name__)
bp.before_request(auth.require("read"))


@bp.get("/stats")
def stats():
    rt = current_runtime()
    return json_response(current_stats(rt.reads, rt.started, rt.heartbeat.gap))
