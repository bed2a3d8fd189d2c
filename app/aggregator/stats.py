"""The counters behind GET /stats and the gateway's `stats`: exact, read in one
statement (one snapshot), so received == unique_processed + duplicate_dropped."""

import time

from .uptime import SINCE

STATS = """
SELECT
    (SELECT coalesce(sum(received), 0) FROM counter_shards),
    (SELECT coalesce(sum(unique_processed), 0) FROM counter_shards),
    (SELECT coalesce(sum(duplicate_dropped), 0) FROM counter_shards),
    (SELECT coalesce(sum(batches), 0) FROM counter_shards),
    (SELECT coalesce(json_object_agg(topic, events ORDER BY topic), '{}'::json)
       FROM (SELECT topic, sum(events)::bigint AS events FROM topic_counter_shards GROUP BY topic) t)
"""


def current(reads, started, heartbeat_gap):
    """The counters, read through the `reads` pool; uptime is the service's (uptime.py),
    or this process's age from `started` before any instance recorded it."""
    with reads.cursor() as cur:
        cur.execute(STATS)
        received, unique, duplicates, batches, per_topic = cur.fetchone()
        cur.execute(SINCE, {"gap": heartbeat_gap})
        found = cur.fetchone()
    return {
        "received": int(received),
        "unique_processed": int(unique),
        "duplicate_dropped": int(duplicates),
        "topics": sorted(per_topic),
        "per_topic": per_topic,
        "batches": int(batches),
        "uptime": round(found[0] if found else time.time() - started, 3),
    }
