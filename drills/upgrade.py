"""The rolling-upgrade drill: playbooks/upgrade.yml under load, from an older Patroni
to the inventory's pin, one node at a time with exactly one handover."""

from .faults import Fault
from .membership import PLAYBOOK_TIMEOUT

# The release the drill starts from: the last of the series before the pinned one.
OLDER_PATRONI = "4.0.11"
UPGRADE = "playbooks/upgrade.yml"


def running_patroni(cluster):
    """{node: the Patroni version its REST API reports (None: no answer)}."""
    versions = {}
    for node in cluster.nodes:
        status, body = cluster.patroni(node, "/patroni")
        versions[node] = (body or {}).get("patroni", {}).get("version") if status == 200 else None
    return versions


class RollingUpgrade(Fault):
    """The cluster first runs OLDER_PATRONI (the same playbook with an older pin, before
    the load starts); then playbooks/upgrade.yml brings every node to the pinned Patroni:
    replicas first, a switchover to the upgraded synchronous standby, the former leader
    last. The leadership moves exactly once, and every node runs the pin afterwards."""

    name, loses_node, expect_failover = "rolling-upgrade", False, True
    leader_moves = 1

    def prepare(self, cluster):
        if set(running_patroni(cluster).values()) != {OLDER_PATRONI}:
            cluster.playbook(UPGRADE, "-e", f"patroni_version={OLDER_PATRONI}", timeout=PLAYBOOK_TIMEOUT)

    def before(self, cluster, node):
        return running_patroni(cluster)

    def inject(self, cluster, node, before):
        cluster.playbook(UPGRADE, timeout=PLAYBOOK_TIMEOUT)

    def effect(self, cluster, node, before):
        pinned, leader = cluster.setting("patroni_version"), cluster.leader()
        if set(running_patroni(cluster).values()) != {pinned} or leader in (None, node):
            return None
        was = ", ".join(sorted(set(filter(None, before.values())))) or "unknown"
        return f"every node runs Patroni {pinned} (was {was}); {node} handed over to {leader}"

    def write_gap_bound(self, terms):
        """The handover (HAProxy marks the new primary up), or a synchronous standby's
        restart: commits wait until the leader's next loop names another one."""
        return terms.bound(loop_wait=terms.loop_wait, haproxy_up=terms.haproxy_up)

    def load_seconds(self, cluster):
        return PLAYBOOK_TIMEOUT + 300
