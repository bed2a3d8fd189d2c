"""The deployed aggregator: exact stats, rows on every node, dedup across a restart."""

import time
import uuid
from datetime import datetime

import pytest
from lab import ADDRESSES, APP_NODES, PG_NODES, assert_service_up, call, leader_name, node, query, secret, wait_for


def stored_on(name, topic):
    rows = query(
        ADDRESSES[name],
        5432,
        "SELECT count(*) FROM events WHERE topic = %s",
        (topic,),
        user="aggregator",
        password=secret("postgres_app"),
        dbname="aggregator",
    )
    return rows[0][0]


@pytest.mark.parametrize("name", list(APP_NODES))
def test_aggregator_running_and_enabled(name):
    assert_service_up(name, "aggregator")


@pytest.mark.parametrize("name", list(APP_NODES))
def test_aggregator_runs_gevent_workers_and_has_logged_no_error(name):
    host = node(name)
    invocation = host.check_output("systemctl show --property InvocationID --value aggregator")
    log = host.check_output(f"journalctl --no-pager -o cat _SYSTEMD_INVOCATION_ID={invocation}")
    assert "Using worker: gevent" in log
    assert "[ERROR]" not in log, log


def test_publish_with_duplicates_gives_exact_stats_and_rows_on_every_node():
    topic = f"infra-{uuid.uuid4().hex[:8]}"
    events = [{"topic": topic, "event_id": str(i % 70)} for i in range(100)]  # 70 unique, 30 duplicates
    before = call("GET", "/stats")[1]
    status, body = call("POST", "/publish", events)
    assert status == 202, f"expected 202, found {status}: {body}"
    assert (body["unique"], body["duplicates"]) == (70, 30), f"expected 70 unique / 30 duplicates, found {body}"
    after = call("GET", "/stats")[1]
    delta = {k: after[k] - before[k] for k in ("received", "unique_processed", "duplicate_dropped")}
    assert delta == {"received": 100, "unique_processed": 70, "duplicate_dropped": 30}, f"stats delta {delta}"
    assert after["per_topic"][topic] == 70
    for name in PG_NODES:
        assert wait_for(lambda name=name: stored_on(name, topic) == 70, timeout=5), (
            f"{name}: expected 70 rows of {topic} within 5 s, found {stored_on(name, topic)}"
        )


def test_duplicate_after_restart_is_still_dropped():
    topic = f"restart-{uuid.uuid4().hex[:8]}"
    assert call("POST", "/publish", {"topic": topic, "event_id": "once"})[1]["unique"] == 1
    for name in APP_NODES:  # whichever one answers next is a restarted process
        node(name).check_output("systemctl restart aggregator")

    def ready():
        try:
            return call("GET", "/ready")[0] == 200
        except OSError:
            time.sleep(0.2)
            return False

    assert wait_for(ready, timeout=30), "aggregator not ready within 30 s after restart"
    status, body = call("POST", "/publish", {"topic": topic, "event_id": "once"})
    assert (status, body["unique"], body["duplicates"]) == (202, 0, 1), f"expected a dropped duplicate, found {body}"


def test_replication_endpoint_sees_the_cluster():
    status, body = call("GET", "/replication")
    assert status == 200 and body["primary"] is True, body
    assert len(body["standbys"]) == 2, f"expected 2 standbys, found {body['standbys']}"
    assert all(s["status"] == "HEALTHY" for s in body["standbys"]), body["standbys"]
    assert len(body["patroni"]["members"]) == 3, body["patroni"]


def test_publish_without_the_write_token_is_refused_and_stores_nothing():
    topic = f"auth-{uuid.uuid4().hex[:8]}"
    for token in ("", "not-a-token", secret("aggregator_read_token")):
        status, body = call("POST", "/publish", {"topic": topic, "event_id": "x"}, token=token)
        assert (status, body["error"]) == (401, "unauthorized"), body
    assert stored_on("pg1", topic) == 0
    assert call("GET", "/stats", token="not-a-token")[0] == 401


def app_query(sql, params=None):
    """As the application, on the leader."""
    return query(
        ADDRESSES[leader_name()],
        5432,
        sql,
        params,
        user="aggregator",
        password=secret("postgres_app"),
        dbname="aggregator",
    )


@pytest.mark.parametrize("name", list(APP_NODES))
def test_the_retention_timer_is_scheduled(name):
    assert node(name).check_output("systemctl is-enabled aggregator-retention.timer") == "enabled"
    assert node(name).check_output("systemctl is-active aggregator-retention.timer") == "active"


def test_a_retention_run_from_an_aggregator_keeps_the_partitions_ahead():
    assert app_query("SELECT relkind FROM pg_class WHERE oid = 'events'::regclass") == [("p",)]
    name = next(iter(APP_NODES))
    node(name).check_output("systemctl start aggregator-retention.service")
    log = node(name).check_output(
        "journalctl --no-pager -o cat -u aggregator-retention.service --since '-2 min' | grep rows_dropped | tail -1"
    )
    assert '"dropped": []' in log, log
    # Today through the longest retention and the days ahead (the lab keeps the defaults).
    names = app_query(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'events'::regclass"
    )
    today = app_query("SELECT (now() AT TIME ZONE 'UTC')::date")[0][0]
    days = [datetime.strptime(name[len("events_expire_") :], "%Y%m%d").date() for (name,) in names]
    ahead = [day for day in days if day >= today]
    assert len(ahead) >= 30 + 7 + 1, f"expected at least 38 partitions from today on, found {sorted(ahead)}"
    assert app_query("SELECT count(*) FROM retention_runs WHERE ran_at > now() - interval '2 minutes'")[0][0] >= 1
