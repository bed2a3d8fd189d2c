"""GET /replication: standby and slot health from the primary, plus Patroni's view."""

from flask import Blueprint, current_app

from .. import auth, replication
from ..runtime import current_runtime
from . import json_response

bp = Blueprint("replication", __name__)
bp.before_request(auth.require("read"))


@bp.get("/replication")
def replication_health():
    body = replication.from_primary(current_runtime().primary_reads)
    config = current_app.config
    body["patroni"] = replication.patroni_cluster(config["PATRONI_URLS"], config["PATRONI_CA_FILE"])
    return json_response(body)
