"""The fault catalogue: how each drill breaks the cluster and heals it."""

import json

PGDATA = "/var/lib/postgresql/15/patroni"


class Fault:
    name = ""
    hold = 0  # seconds between inject and heal
    loses_node = True  # a node goes away and must rejoin
    expect_failover = True

    def target(self, cluster, leader, sync_standby):
        return leader

    def inject(self, cluster, node):
        raise NotImplementedError

    def heal(self, cluster, node):
        """Bring the node back; returns when the heal action is done."""


class Switchover(Fault):
    name, loses_node = "switchover", False

    def inject(self, cluster, node):
        members = cluster.members()
        candidate = next((m["name"] for m in members if m["role"] == "sync_standby"), None) or next(
            m["name"] for m in members if m["role"] != "leader"
        )
        status, body = cluster.patroni(
            node, "/switchover", timeout=60, method="POST", body={"leader": node, "candidate": candidate}
        )
        if status != 200:
            raise RuntimeError(f"switchover refused: {status} {body}")


class StopPatroni(Fault):
    name, hold = "stop-patroni", 10

    def inject(self, cluster, node):
        cluster.exec(node, "systemctl", "stop", "patroni")

    def heal(self, cluster, node):
        cluster.exec(node, "systemctl", "start", "patroni")


class KillPostgres(Fault):
    name = "kill-postgres"
    expect_failover = None  # Patroni restarts it in place or fails over; reported

    def inject(self, cluster, node):
        cluster.exec(node, "sh", "-c", f"kill -9 $(head -1 {PGDATA}/postmaster.pid)")


class CrashPrimary(Fault):
    name, hold = "crash-primary", 30

    def inject(self, cluster, node):
        cluster.docker("kill", node)

    def heal(self, cluster, node):
        cluster.docker("start", node)


class IsolatePrimary(Fault):
    name, hold = "isolate-primary", 40

    def inject(self, cluster, node):
        cluster.docker("network", "disconnect", cluster.network, node)

    def heal(self, cluster, node):
        cluster.docker("network", "connect", "--ip", cluster.nodes[node], cluster.network, node)


class EtcdMemberLoss(Fault):
    name, hold, loses_node, expect_failover = "etcd-member-loss", 20, False, False

    def target(self, cluster, leader, sync_standby):
        """The etcd leader's node."""
        first = next(iter(cluster.nodes))
        out = cluster.exec(first, "etcdctl", "endpoint", "status", "--cluster", "--write-out=json").stdout
        for status in json.loads(out):
            if status["Status"]["leader"] == status["Status"]["header"]["member_id"]:
                address = status["Endpoint"].split("//")[1].split(":")[0]
                return next(n for n, a in cluster.nodes.items() if a == address)
        return first

    def inject(self, cluster, node):
        cluster.exec(node, "systemctl", "stop", "etcd")

    def heal(self, cluster, node):
        cluster.exec(node, "systemctl", "start", "etcd")


class ReplicaCrash(Fault):
    name, hold, expect_failover = "replica-crash", 20, False

    def target(self, cluster, leader, sync_standby):
        return sync_standby or next(n for n in cluster.nodes if n != leader)

    def inject(self, cluster, node):
        cluster.docker("kill", node)

    def heal(self, cluster, node):
        cluster.docker("start", node)


class AppRestart(Fault):
    name, loses_node, expect_failover = "app-restart", False, False

    def target(self, cluster, leader, sync_standby):
        return "app1"

    def inject(self, cluster, node):
        cluster.exec(node, "systemctl", "restart", "aggregator")


CATALOGUE = {
    f.name: f
    for f in (
        Switchover,
        StopPatroni,
        KillPostgres,
        CrashPrimary,
        IsolatePrimary,
        EtcdMemberLoss,
        ReplicaCrash,
        AppRestart,
    )
}
