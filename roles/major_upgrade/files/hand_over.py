#!/usr/bin/python3
"""Hand the writes over from one cluster to the one that follows it by logical
replication, in one short pause: the writer's application login is fenced, a marker
row proves the follower has applied everything the writer committed, both sides are
compared, then the follower's subscription is dropped and (on a cutover) the old writer
subscribes to the new one, so a rollback loses nothing.

Run by playbooks/major_upgrade.yml on the follower's leader. Reads its settings as JSON
from the environment (HAND_OVER, it holds the superuser password) and prints a JSON
summary. Any failure before the subscription is dropped lets the writer take writes
again: nothing is half done.
"""

import json
import os
import sys
import time
import uuid

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn

# Tables up to this many rows are compared row by row (a digest), larger ones by count.
DIGEST_ROWS = 100_000

ROOT_TABLES = """
SELECT c.relname FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
  AND NOT c.relispartition AND c.relname <> %s
ORDER BY 1
"""


def dsn(host, settings):
    """The superuser's connection string to a cluster's leader: the script's own
    connections and the subscription the old writer makes use the same one."""
    return make_dsn(
        host=host,
        port=settings["port"],
        dbname=settings["database"],
        user=settings["user"],
        password=settings["password"],
        sslmode="verify-full",
        sslrootcert=settings["ca_file"],
        application_name="pgha-major-upgrade",
    )


def connect(side, settings):
    conn = psycopg2.connect(dsn(side["host"], settings), connect_timeout=5)
    conn.autocommit = True
    return conn


def run(conn, statement, params=None):
    with conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else None


def set_login(conn, role, allowed):
    """Fence (or let back) the application: its login, and its open sessions."""
    run(conn, sql.SQL("ALTER ROLE {} " + ("LOGIN" if allowed else "NOLOGIN")).format(sql.Identifier(role)))
    if not allowed:
        run(conn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))


def wait_for_marker(writer, follower, marker, deadline):
    """Commit order is apply order: once the follower shows the marker, it holds every
    transaction the writer committed before it."""
    token = str(uuid.uuid4())
    table = sql.Identifier(marker)
    upsert = "INSERT INTO {} (id, token) VALUES (1, %s) ON CONFLICT (id) DO UPDATE SET token = excluded.token"
    run(writer, sql.SQL(upsert).format(table), (token,))
    while time.monotonic() < deadline:
        if run(follower, sql.SQL("SELECT 1 FROM {} WHERE token = %s").format(table), (token,)):
            return
        time.sleep(0.05)
    raise TimeoutError("the follower did not apply the writer's last transaction in time")


def summary(conn, marker):
    """Every table's row count, and a digest of the rows of the small ones (the /stats
    counters among them)."""
    tables = {}
    for (name,) in run(conn, ROOT_TABLES, (marker,)):
        table = sql.Identifier(name)
        count = run(conn, sql.SQL("SELECT count(*) FROM {}").format(table))[0][0]
        digest = None
        if count <= DIGEST_ROWS:
            digest = run(
                conn,
                sql.SQL("SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {} t").format(table),
            )[0][0]
        tables[name] = {"rows": count, "digest": digest}
    return tables


def subscribe(follower, writer_host, settings):
    """The follower subscribes to everything the (new) writer publishes from now on."""
    name = settings["name"]
    run(
        follower,
        sql.SQL("CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} WITH (copy_data = false)").format(
            sql.Identifier(name), sql.Literal(dsn(writer_host, settings)), sql.Identifier(name)
        ),
    )


def hand_over(settings):
    writer = connect(settings["writer"], settings)
    follower = connect(settings["follower"], settings)
    name = settings["name"]
    started = time.monotonic()
    set_login(writer, settings["app_user"], False)
    try:
        wait_for_marker(writer, follower, settings["marker"], started + settings["pause_timeout"])
        before, after = summary(writer, settings["marker"]), summary(follower, settings["marker"])
        if before != after:
            differ = sorted(t for t in set(before) | set(after) if before.get(t) != after.get(t))
            raise RuntimeError(f"the clusters differ in {', '.join(differ)}: {before} against {after}")
        # Past this point the follower is the writer: the old one stays fenced.
        run(follower, sql.SQL("DROP SUBSCRIPTION {}").format(sql.Identifier(name)))
    except Exception:
        set_login(writer, settings["app_user"], True)
        raise
    if settings["subscribe_back"]:
        if not run(follower, "SELECT 1 FROM pg_publication WHERE pubname = %s", (name,)):
            run(
                follower,
                sql.SQL("CREATE PUBLICATION {} FOR ALL TABLES WITH (publish_via_partition_root = true)").format(
                    sql.Identifier(name)
                ),
            )
        subscribe(writer, settings["follower"]["host"], settings)
    set_login(follower, settings["app_user"], True)
    return {"held_seconds": round(time.monotonic() - started, 3), "tables": after}


if __name__ == "__main__":
    try:
        print(json.dumps(hand_over(json.loads(os.environ["HAND_OVER"]))))
    except Exception as exc:  # the playbook shows this line, never the settings
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        sys.exit(1)
