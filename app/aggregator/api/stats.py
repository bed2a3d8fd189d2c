"""GET /stats: exact counters, read in one statement (one snapshot)."""

import time

from flask import Blueprint

from .. import auth
from . import json_response, runtime

bp = Blueprint("stats", __name__)
bp.before_request(auth.require("read"))

STATS = """
SELECT
    (SELECT coalesce(sum(received), 0) FROM counter_shards),
    (SELECT coalesce(sum(unique_processed), 0) FROM counter_shards),
    (SELECT coalesce(sum(duplicate_dropped), 0) FROM counter_shards),
    (SELECT coalesce(sum(batches), 0) FROM counter_shards),
    (SELECT coalesce(json_object_agg(topic, events ORDER BY topic), '{}'::json)
       FROM (SELECT topic, sum(events)::bigint AS events FROM topic_counter_shards GROUP BY topic) t)
"""


def current():
    """The counters (also the GraphQL gateway's `stats`)."""
    rt = runtime()
    with rt.reads.cursor() as cur:
        cur.execute(STATS)
        received, unique, duplicates, batches, per_topic = cur.fetchone()
    return {
        "received": int(received),
        "unique_processed": int(unique),
        "duplicate_dropped": int(duplicates),
        "topics": sorted(per_topic),
        "per_topic": per_topic,
        "batches": int(batches),
        "uptime": round(time.time() - rt.started, 3),
    }


@bp.get("/stats")
def stats():
    return json_response(current())
