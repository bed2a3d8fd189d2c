"""GET /replication: standby and slot health from the primary, plus Patroni's view."""

from flask import Blueprint, current_app

from .. import auth, replication
from . import json_response, runtime

bp = Blueprint("replication", __name__)
bp.before_request(auth.require("read"))


def from_primary():
    """Standbys and slots with their status, read on the primary (also the GraphQL
    gateway's `replication` and `cluster`)."""
    with runtime().primary_reads.cursor() as cur:
        cur.execute("SELECT pg_is_in_recovery()")
        (in_recovery,) = cur.fetchone()
        if in_recovery:
            body = {
                "primary": False,
                "standbys": [],
                "slots": [],
                "alerts": ["connected to a standby, not the primary"],
            }
        else:
            cur.execute(replication.STANDBYS)
            standbys = cur.fetchall()
            cur.execute(replication.SLOTS)
            body = {"primary": True, **replication.report(standbys, cur.fetchall())}
    return body


@bp.get("/replication")
def replication_health():
    body = from_primary()
    config = current_app.config
    body["patroni"] = replication.patroni_cluster(config["PATRONI_URLS"], config["PATRONI_CA_FILE"])
    return json_response(body)
