"""The fault catalogue: how each drill breaks the cluster, heals it, and how the runner
sees from outside that the fault really happened.

Every inject and heal step goes through `Cluster.exec`/`Cluster.docker`, which raise
`CommandFailed` (the command and its stderr) on a non-zero exit. `effect()` is polled
during the hold: it returns a sentence describing what was observed, or None while
the fault has not (yet) had its effect.
"""

import json

from .cluster import etcdctl


class Fault:
    name = ""
    hold = 0  # seconds between inject and heal
    loses_node = True  # a node goes away and must rejoin
    expect_failover = True  # True: a new leader must appear; False: none may; None: either

    def target(self, cluster, leader, sync_standby):
        return leader

    def before(self, cluster, node):
        """State read before the fault that effect() compares against."""
        return None

    def inject(self, cluster, node, before):
        raise NotImplementedError

    def effect(self, cluster, node, before):
        raise NotImplementedError

    def heal(self, cluster, node):
        """Bring the node back; returns when the heal action is done."""


class Switchover(Fault):
    name, loses_node = "switchover", False

    def inject(self, cluster, node, before):
        candidate = cluster.switchover_candidate()
        if candidate is None:
            raise RuntimeError("switchover: no streaming replica to hand over to")
        status, body = cluster.patroni(
            node, "/switchover", timeout=60, method="POST", body={"leader": node, "candidate": candidate}
        )
        if status != 200:
            raise RuntimeError(f"switchover refused: {status} {body}")

    def effect(self, cluster, node, before):
        leader = cluster.leader()
        return f"Patroni reports {leader} as leader instead of {node}" if leader not in (None, node) else None


class StopPatroni(Fault):
    name, hold = "stop-patroni", 10

    def inject(self, cluster, node, before):
        cluster.exec(node, "systemctl", "stop", "patroni")

    def effect(self, cluster, node, before):
        state, _ = cluster.unit_state(node, "patroni")
        return f"patroni.service on {node} is {state}" if state in ("inactive", "failed") else None

    def heal(self, cluster, node):
        cluster.exec(node, "systemctl", "start", "patroni")


class KillPostgres(Fault):
    name = "kill-postgres"
    expect_failover = None  # Patroni restarts it in place or fails over; reported

    def before(self, cluster, node):
        pid_file = f"{cluster.data_directory(node)}/postmaster.pid"
        return int(cluster.exec(node, "head", "-1", pid_file).stdout.strip())

    def inject(self, cluster, node, before):
        cluster.exec(node, "kill", "-9", str(before))

    def effect(self, cluster, node, before):
        gone = cluster.exec(node, "kill", "-0", str(before), check=False).returncode != 0
        return f"postmaster {before} on {node} is gone" if gone else None


class CrashPrimary(Fault):
    name, hold = "crash-primary", 30

    def inject(self, cluster, node, before):
        cluster.docker("kill", node)

    def effect(self, cluster, node, before):
        return None if cluster.container_running(node) else f"container {node} is not running"

    def heal(self, cluster, node):
        cluster.docker("start", node)


class IsolatePrimary(Fault):
    name, hold = "isolate-primary", 40

    def inject(self, cluster, node, before):
        cluster.docker("network", "disconnect", cluster.network, node)

    def effect(self, cluster, node, before):
        peers = [n for n in cluster.nodes if n != node]
        if any(cluster.reachable_from(peer, node) for peer in peers):
            return None
        return f"{node} is unreachable from {', '.join(peers)}"

    def heal(self, cluster, node):
        cluster.docker("network", "connect", "--ip", cluster.nodes[node], cluster.network, node)


class EtcdMemberLoss(Fault):
    name, hold, loses_node, expect_failover = "etcd-member-loss", 20, False, False

    def target(self, cluster, leader, sync_standby):
        """The etcd leader's node."""
        first = next(iter(cluster.nodes))
        out = cluster.exec(first, *etcdctl(), "endpoint", "status", "--cluster", "--write-out=json").stdout
        for status in json.loads(out):
            if status["Status"]["leader"] == status["Status"]["header"]["member_id"]:
                address = status["Endpoint"].split("//")[1].split(":")[0]
                return next(n for n, a in cluster.nodes.items() if a == address)
        raise RuntimeError(f"etcd reports no leader: {out[:300]}")

    def inject(self, cluster, node, before):
        cluster.exec(node, "systemctl", "stop", "etcd")

    def effect(self, cluster, node, before):
        peer = next(n for n in cluster.nodes if n != node)
        if cluster.etcd_endpoint_healthy(peer, node):
            return None
        return f"etcd member on {node} reported unhealthy from {peer}"

    def heal(self, cluster, node):
        cluster.exec(node, "systemctl", "start", "etcd")


class ReplicaCrash(CrashPrimary):
    name, hold, expect_failover = "replica-crash", 20, False

    def target(self, cluster, leader, sync_standby):
        """The synchronous standby: losing it is the case synchronous mode must survive.
        Without synchronous mode any replica will do."""
        if sync_standby:
            return sync_standby
        if cluster.synchronous_mode():
            raise RuntimeError("replica-crash: synchronous mode is on but no synchronous standby is designated")
        return next(n for n in cluster.nodes if n != leader)


class AppRestart(Fault):
    name, loses_node, expect_failover = "app-restart", False, False

    def target(self, cluster, leader, sync_standby):
        return cluster.app_host

    def before(self, cluster, node):
        return cluster.unit_state(node, "aggregator")[1]

    def inject(self, cluster, node, before):
        cluster.exec(node, "systemctl", "restart", "aggregator")

    def effect(self, cluster, node, before):
        state, pid = cluster.unit_state(node, "aggregator")
        if state == "active" and pid not in (0, before):
            return f"aggregator on {node} runs as a new main PID {pid} (was {before})"
        return None


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
