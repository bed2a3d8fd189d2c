"""GET /backups: the newest backup of each type and WAL archiving, read on the primary."""

from flask import Blueprint, current_app

from .. import auth, backups
from . import json_response, runtime

bp = Blueprint("backups", __name__)
bp.before_request(auth.require("read"))


def current():
    """Archiving and the repository's newest backups (also the GraphQL gateway's `backups`)."""
    with runtime().primary_reads.cursor() as cur:
        cur.execute(backups.ARCHIVER)
        row = cur.fetchone()
        archiving = backups.archiving_status(row)
        repository = None
        if current_app.config["BACKUP_INFO"]:
            cur.execute(backups.BACKUP_INFO)
            repository = backups.backups_status(cur.fetchone()[0], now=row[-1])
    return {"archiving": archiving, "backups": repository, "alerts": backups.alerts(archiving, repository)}


@bp.get("/backups")
def backup_health():
    return json_response(current())
