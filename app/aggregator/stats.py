"""The counters behind GET /stats and the gateway's `stats`: exact, read in one
statement (one snapshot), so received == unique_processed + duplicate_dropped."""

import time

STATS = """
SELECT
    (SELECT coalesce(sum(received), 0) FROM counter_shards),
    (SELECT coalesce(sum(unique_processed), 0) FROM counter_shards),
    (SELECT coalesce(sum(duplicate_dropped), 0) FROM counter_shards),
    (SELECT coalesce(sum(batches), 0) FROM counter_shards),
    (SELECT coalesce(json_object_agg(topic, events ORDER BY topic), '{}'::json)
       FROM (SELECT topic, sum(events)::bigint AS events FROM topic_counter_shards GROUP BY topic) t)
"""


def current(reads, started):
    """The counters, read through the `reads` pool; uptime counts from `started`."""
    with reads.cursor() as cur:
        cur.execute(STATS)
        received, unique, duplicates, batches, per_topic = cur.fetchone()
    return {
        "received": int(received),
        "unique_processed": int(unique),
        "duplicate_dropped": int(duplicates),
        "topics": sorted(per_topic),
        "per_topic": per_topic,
        "batches": int(batches),
        "uptime": round(time.time() - started, 3),
    }
