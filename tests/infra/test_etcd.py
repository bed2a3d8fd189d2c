"""etcd: three healthy members, service running and enabled."""

import json

import pytest
from lab import PG_NODES, TOPOLOGY, assert_service_up, node

from drills.dcs import etcdctl

ETCDCTL = " ".join(etcdctl(TOPOLOGY))


@pytest.mark.parametrize("name", PG_NODES)
def test_etcd_service_running_and_enabled(name):
    assert_service_up(name, "etcd")


def test_etcd_reports_three_healthy_members():
    out = node("pg1").check_output(f"{ETCDCTL} endpoint health --cluster --write-out=json")
    health = json.loads(out)
    healthy = sorted(e["endpoint"] for e in health if e["health"])
    assert len(healthy) == 3, f"expected 3 healthy etcd members, found {len(healthy)}: {health}"
