"""What every drill checks on the cluster, before and after its fault: a whole cluster
to start on, the acknowledged events on the leader, the /stats invariant and identical
rows on every node."""

import json
import urllib.error
import urllib.request

from .polling import wait_until as wait

DIGEST_SQL = "SELECT count(*), md5(string_agg(topic || '/' || event_id, ',' ORDER BY topic, event_id)) FROM events"


def require_whole(cluster, timeout=60):
    """Wait for one leader with every other member streaming, and (with a VIP) one VIP
    holder balancing every aggregator; a drill never starts on less."""
    if not wait(lambda: cluster.healthy() and cluster.front_door_whole(), timeout):
        raise RuntimeError(f"the cluster is not whole before the drill: {'; '.join(whole_problems(cluster))}")


def whole_problems(cluster):
    """What keeps the cluster and its front door from being whole ([]: nothing)."""
    return cluster.problems() + ([] if cluster.front_door_whole() else ["the front door is not whole"])


def get_json(cluster, path):
    """A read-scoped GET on the aggregator API, verified against the deployment's CA."""
    headers = {"Authorization": f"Bearer {cluster.api_token('read')}"}
    request = urllib.request.Request(cluster.api_url + path, headers=headers)
    with urllib.request.urlopen(request, timeout=30, context=cluster.tls_context()) as response:
        return json.load(response)


def publish_status(cluster, event, token):
    """The HTTP status of one POST /publish of `event` with `token` through the front door."""
    request = urllib.request.Request(
        cluster.api_url + "/publish", data=json.dumps(event).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30, context=cluster.tls_context()) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def missing_on_leader(cluster, acks):
    """missing_acks, asked of the current leader."""
    conn = cluster.connect(cluster.nodes[cluster.leader()])
    try:
        return missing_acks(conn, acks)
    finally:
        conn.close()


def missing_acks(conn, acks):
    """Acknowledged (topic, event_id, ack time) entries absent from the events table."""
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE acked (topic text, event_id text) ON COMMIT DROP")
        cur.executemany("INSERT INTO acked VALUES (%s, %s)", [(t, e) for t, e, _ in acks])
        cur.execute(
            "SELECT a.topic, a.event_id FROM acked a LEFT JOIN events e USING (topic, event_id) "
            "WHERE e.event_id IS NULL ORDER BY 2"
        )
        return [f"{t}/{e}" for t, e in cur.fetchall()]


def node_digests(cluster):
    """{node: [rows, md5 of every key]} ([None, why] for a node that does not answer)."""
    found = {}
    for name, address in cluster.nodes.items():
        try:
            c = cluster.connect(address)
            with c, c.cursor() as cur:
                cur.execute(DIGEST_SQL)
                found[name] = list(cur.fetchone())
            c.close()
        except Exception as exc:  # a node that is down reports why
            found[name] = [None, str(exc)[:80]]
    return found


def check_consistency(cluster, stats_before):
    """/stats invariant, unique_processed == rows, and identical rows on every node."""
    stats = get_json(cluster, "/stats")
    conn = cluster.connect(cluster.nodes[cluster.leader()])
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM events")
        rows = cur.fetchone()[0]
    conn.close()
    last = {}

    def identical():
        last.update(node_digests(cluster))
        return len({tuple(v) for v in last.values()}) == 1

    same = wait(identical, 15)
    return {
        "received": stats["received"],
        "unique_processed": stats["unique_processed"],
        "duplicate_dropped": stats["duplicate_dropped"],
        "rows": rows,
        "stats_invariant": stats["received"] == stats["unique_processed"] + stats["duplicate_dropped"],
        "unique_equals_rows": stats["unique_processed"] == rows,
        "nodes_identical": same,
        "node_digests": last,
        "duplicates_during_drill": stats["duplicate_dropped"] - stats_before["duplicate_dropped"],
    }
