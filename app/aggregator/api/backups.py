"""GET /backups: the newest backup of each type and WAL archiving, read on the primary."""

from flask import Blueprint, current_app

from .. import auth, backups
from ..runtime import current_runtime
from . import json_response

bp = Blueprint("backups", __name__)
bp.before_request(auth.require("read"))


@bp.get("/backups")
def backup_health():
    return json_response(backups.current(current_runtime().primary_reads, current_app.config["BACKUP_INFO"]))
