"""GET /replication: standby and slot health from the primary, plus Patroni's view."""

from flask import Blueprint, current_app

from .. import auth, replication
from . import json_response, runtime

bp = Blueprint("replication", __name__)
bp.before_request(auth.require("read"))


@bp.get("/replication")
def replication_health():
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
    config = current_app.config
    body["patroni"] = replication.patroni_cluster(config["PATRONI_URLS"], config["PATRONI_CA_FILE"])
    return json_response(body)
