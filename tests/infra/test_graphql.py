"""The GraphQL gateway against the lab, through the VIP with the read token: a query
per field, each checked against the source it reads (patronictl, Patroni's history,
GET /stats, the VIP holder, the repository); bad queries are GraphQL errors."""

import time

import pytest
from lab import INVENTORY, MONITORING, VIP, call, cluster, leader_name

from drills.cluster import Cluster
from drills.monitoring import Monitoring
from drills.polling import wait_until

pytestmark = pytest.mark.skipif(not MONITORING, reason="the scenario's inventory has no monitoring group")


def ask(query):
    status, body = call("POST", "/graphql", {"query": query})
    assert status == 200, body
    assert "errors" not in body, body["errors"]
    return body["data"]


def test_cluster_is_patronictl_s_view():
    data = ask("{ cluster { leader members { name role state timeline status lagBytes } } }")["cluster"]
    assert data["leader"] == leader_name()
    patronictl = {m["Member"]: m for m in cluster()}
    assert sorted(m["name"] for m in data["members"]) == sorted(patronictl)
    for m in data["members"]:
        assert m["timeline"] == patronictl[m["name"]]["TL"]
        assert m["status"] == ("LEADER" if m["name"] == data["leader"] else "HEALTHY"), m


def test_replication_has_a_slot_per_replica():
    data = ask("{ replication { primary slots { slotName active status } alerts } }")["replication"]
    assert data["primary"] is True
    assert len(data["slots"]) == len(cluster()) - 1
    assert all(s["active"] and s["status"] == "OK" for s in data["slots"])
    assert data["alerts"] == []


def test_stats_are_get_stats():
    data = ask("{ stats { received uniqueProcessed duplicateDropped topics } }")["stats"]
    status, rest = call("GET", "/stats")
    assert status == 200
    assert data["received"] == data["uniqueProcessed"] + data["duplicateDropped"]
    assert (data["received"], data["topics"]) == (rest["received"], rest["topics"])


def test_ingest_rate_is_prometheus_s_own_figure():
    """Events are published until Prometheus's own rate of the aggregators' received
    counter is above zero; the gateway must answer that figure (a wrong metric name
    answered 0.0 and passed a `>= 0` check)."""
    monitoring = Monitoring.of(Cluster.from_inventory(INVENTORY))
    expression = "sum(rate(aggregator_events_received_total[1m]))"

    def prometheus_rate():
        call("POST", "/publish", [{"topic": "rate", "event_id": f"r{time.time_ns()}-{i}"} for i in range(200)])
        found = monitoring.query(expression)
        return float(found[0]["value"][1]) if found else 0.0

    assert wait_until(lambda: prometheus_rate() > 0, timeout=90, interval=3), "Prometheus never saw an event"
    theirs = prometheus_rate()
    ours = ask("{ ingestRate }")["ingestRate"]
    assert ours is not None and ours == pytest.approx(theirs, rel=0.25), f"gateway {ours}, Prometheus {theirs}"


def test_alerts_are_alertmanager_s():
    alerts = ask("{ alerts { name severity summary startsAt } }")["alerts"]
    assert isinstance(alerts, list)
    assert all(a["name"] and a["startsAt"] for a in alerts)


def test_last_failover_is_the_newest_entry_of_patroni_s_history():
    c = Cluster.from_inventory(INVENTORY)
    _, history = c.patroni(c.leader(), "/history")
    data = ask("{ lastFailover { timeline at reason newLeader } }")["lastFailover"]
    if not history:
        assert data is None
    else:
        assert (data["timeline"], data["at"]) == (history[-1][0], history[-1][3])


def test_front_door_shows_one_vip_holder():
    c = Cluster.from_inventory(INVENTORY)
    data = ask("{ frontDoor { vip balancers { name up holdsVip primaryServers } } }")["frontDoor"]
    assert data["vip"] == VIP
    holders = [b["name"] for b in data["balancers"] if b["holdsVip"]]
    assert holders == c.vip_holders()
    assert all(b["up"] and b["primaryServers"] == 1 for b in data["balancers"]), data


def test_backups_report_archiving_and_the_newest_full_backup():
    data = ask("{ backups { archivingStatus backupStatus newestFullAgeSeconds alerts } }")["backups"]
    assert data["archivingStatus"] == "OK"
    assert data["backupStatus"] == "OK"
    assert data["newestFullAgeSeconds"] is not None
    assert data["alerts"] == []


@pytest.mark.parametrize("query", ["{ cluster { nosuch } }", "{ cluster ", "mutation { stats { received } }"])
def test_a_bad_query_is_a_graphql_error(query):
    status, body = call("POST", "/graphql", {"query": query})
    assert status == 200
    assert body["data"] is None and body["errors"]
