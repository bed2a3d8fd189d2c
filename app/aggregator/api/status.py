"""GET /status: the status page (static HTML and script; the data comes from /graphql
with the read token the page is given, so the page itself holds nothing secret)."""

from flask import Blueprint, send_from_directory

bp = Blueprint("status", __name__, static_folder="../static", static_url_path="/status/static")


@bp.get("/status")
def status_page():
    return send_from_directory(bp.static_folder, "status.html", max_age=0)
