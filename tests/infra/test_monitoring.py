"""Prometheus and Alertmanager on the monitoring node: every target up over TLS, the
metrics the alert rules read exist, nothing fires on the healthy cluster, an alert
reaches the webhook receiver, and every endpoint wants its identity."""

import dataclasses
import json
import re
import ssl
import time
import urllib.error
import urllib.request

import pytest
import yaml
from lab import ADDRESSES, APP_NODES, BACKUPS, DCS, INVENTORY, MONITORING, REPO, SECRETS, node, refusal, tls_context

from drills.checks import require_whole
from drills.cluster import Cluster
from drills.monitoring import Monitoring
from drills.polling import wait_until

pytestmark = pytest.mark.skipif(not MONITORING, reason="the scenario's inventory has no monitoring group")
RULES = REPO / "roles" / "monitoring" / "files" / "alerts.yml"
NODE_EXPORTER_PORT = 9100  # the monitoring role's monitoring_node_exporter_port
ALERT_LOG = "/var/lib/pgha-alert-log/notifications.jsonl"  # the webhook receiver's log


@pytest.fixture(scope="module")
def monitoring():
    return Monitoring.of(Cluster.from_inventory(INVENTORY))


def expected_targets():
    """(job, instance) Prometheus must scrape: every node's exporter, and each service."""
    nodes = [*ADDRESSES, *APP_NODES, *(["backup1"] if BACKUPS else []), MONITORING[0]]
    targets = {("node", n) for n in nodes}
    targets |= {(job, n) for job in ("postgres", "patroni") for n in ADDRESSES}
    if DCS == "etcd3":
        targets |= {("etcd", n) for n in ADDRESSES}
    targets |= {(job, n) for job in ("haproxy", "aggregator") for n in APP_NODES}
    return targets | {("prometheus", MONITORING[0]), ("alertmanager", MONITORING[0])}


def test_every_scrape_target_is_up(monitoring):
    def states():
        return {(t["labels"]["job"], t["labels"]["instance"]): t for t in monitoring.targets()}

    def all_up():
        found = states()
        return set(found) == expected_targets() and all(t["health"] == "up" for t in found.values())

    wait_until(all_up, timeout=60, interval=2)
    found = states()
    assert set(found) == expected_targets(), (
        f"missing {expected_targets() - set(found)}, extra {set(found) - expected_targets()}"
    )
    down = {k: t["lastError"] for k, t in found.items() if t["health"] != "up"}
    assert not down, f"targets not up: {down}"


def rule_metrics():
    """Every metric name the alert rules read."""
    rules = yaml.safe_load(RULES.read_text())
    names = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            names |= set(re.findall(r"\b((?:pgha|patroni|pg|etcd|haproxy|aggregator|node)_[a-z0-9_]+)", rule["expr"]))
    if DCS != "etcd3":
        names = {n for n in names if not n.startswith("etcd_")}
    return sorted(names)


@pytest.mark.parametrize("metric", rule_metrics())
def test_every_metric_an_alert_reads_is_scraped(monitoring, metric):
    """A renamed metric would leave its alert silent for ever."""
    assert monitoring.query(f'count({{__name__="{metric}"}})'), f"Prometheus has no {metric}"


def test_the_healthy_cluster_fires_no_alert(monitoring):
    """Earlier tests break things on purpose; once the cluster is whole their alerts
    resolve, and nothing else may fire."""
    require_whole(Cluster.from_inventory(INVENTORY))
    wait_until(lambda: not monitoring.query('ALERTS{alertstate="firing"}'), timeout=120, interval=5)
    firing = monitoring.query('ALERTS{alertstate="firing"}')
    assert firing == [], f"firing on the healthy cluster: {[r['metric'] for r in firing]}"
    assert monitoring.firing() == []


def test_prometheus_sees_one_leader_and_every_standby_streaming(monitoring):
    leaders = monitoring.query("patroni_primary == 1")
    assert len(leaders) == 1
    streaming = monitoring.query("pgha_replication_streaming == 1")
    assert len(streaming) == len(ADDRESSES) - 1


def alert_log():
    """The webhook receiver's log on the monitoring node: one notification per line."""
    out = node(MONITORING[0]).check_output(f"cat {ALERT_LOG} 2>/dev/null || true")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_an_alert_reaches_the_webhook_receiver_and_resolves(monitoring):
    """Alertmanager routes to the receiver: an alert posted to its API is logged
    firing, then resolved once it ends."""
    name = f"PghaTestAlert{int(time.time())}"
    ends = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 15))
    monitoring.get(
        monitoring.alertmanager_port, "/api/v2/alerts", body=[{"labels": {"alertname": name}, "endsAt": ends}]
    )

    def statuses():
        seen = [e["notification"] for e in alert_log()]
        return [n["status"] for n in seen if n["groupLabels"].get("alertname") == name]

    assert wait_until(lambda: "firing" in statuses(), timeout=60, interval=2), "the firing notification never arrived"
    assert wait_until(lambda: "resolved" in statuses(), timeout=90, interval=2), (
        "the resolved notification never arrived"
    )


@pytest.mark.parametrize(("service", "path"), [("prometheus", "/api/v1/targets"), ("alertmanager", "/api/v2/alerts")])
def test_prometheus_and_alertmanager_need_the_password(monitoring, service, path):
    port = getattr(monitoring, f"{service}_port")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"https://{monitoring.address}:{port}{path}", timeout=5, context=tls_context())
    assert refused.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as refused:
        dataclasses.replace(monitoring, password="not-the-password").get(port, path)
    assert refused.value.code == 401


def test_an_exporter_refuses_a_client_without_a_certificate():
    url = f"https://{ADDRESSES['pg1']}:{NODE_EXPORTER_PORT}/metrics"
    err = refusal(lambda: urllib.request.urlopen(url, timeout=5, context=tls_context()).read())
    assert isinstance(err, ssl.SSLError) and "CERTIFICATE" in str(err), repr(err)


def test_an_exporter_answers_a_client_with_a_certificate_from_the_ca():
    pki = SECRETS / "pki"
    context = tls_context()
    context.load_cert_chain(pki / "pg1.crt", pki / "pg1.key")
    url = f"https://{ADDRESSES['pg1']}:{NODE_EXPORTER_PORT}/metrics"
    with urllib.request.urlopen(url, timeout=5, context=context) as response:
        assert b"node_filesystem_avail_bytes" in response.read()
