"""standby-loss: every replica goes down under load, then the primary's node dies.

What the durability mode (pgha_durability) decides is what the primary acknowledges
while it is alone: strict and quorum acknowledge nothing (their commits wait for a
standby that is gone), sync drops its synchronous standby after a Patroni loop and goes
on alone, async never waited. Then the primary is killed: whatever it acknowledged
alone exists on no other node. The heal starts the replicas first, then the primary.
With synchronous mode on, Patroni promotes no replica that was not synchronous, so the
old primary comes back as the leader with its writes; without it, a replica within
maximum_lag_on_failover may lead, and the writes only the old primary had are lost.
The drill reports how many events were acknowledged alone and how many were lost;
losing any fails it, except without synchronous mode, where it is the measured cost.
"""

import time

from .faults import ContainerCrash, Fault

# Seconds the primary runs without a replica before its node is killed: two Patroni
# loops at least (sync mode drops the missing standby on one), read in prepare.
ALONE_LOOPS = 2
ALONE_MARGIN = 5
# Seconds allowed for Patroni to stop the replicas (each stops its PostgreSQL first):
# with strict or quorum durability the primary stops acknowledging at the first.
REPLICA_STOPS = 10


class StandbyLoss(ContainerCrash, Fault):
    name, hold, expect_failover = "standby-loss", 30, None
    loop_wait = 5.0

    def prepare(self, cluster):
        self.loop_wait = float(cluster.dynamic_config()["loop_wait"])

    def alone_seconds(self):
        return ALONE_LOOPS * self.loop_wait + ALONE_MARGIN

    def replicas(self, cluster, node):
        return [name for name in cluster.nodes if name != node]

    def before(self, cluster, node):
        return {"synchronous_mode": cluster.synchronous_mode()}

    def inject(self, cluster, node, before):
        for replica in self.replicas(cluster, node):
            cluster.exec(replica, "systemctl", "stop", "patroni")
        before["replicas_stopped_at"] = time.time()
        time.sleep(self.alone_seconds())
        before["primary_killed_at"] = time.time()
        cluster.docker("kill", node)

    def effect(self, cluster, node, before):
        if "primary_killed_at" not in before or cluster.container_running(node):
            return None
        return f"Patroni stopped on {', '.join(self.replicas(cluster, node))}, then container {node} killed"

    def heal(self, cluster, node):
        for replica in self.replicas(cluster, node):
            cluster.exec(replica, "systemctl", "start", "patroni")
        cluster.docker("start", node)

    def ack_windows(self, before):
        """The primary alone: from the replicas' stop to its own death."""
        if "primary_killed_at" not in before:
            return {}
        return {"acknowledged_alone": (before["replicas_stopped_at"], before["primary_killed_at"])}

    def tolerates_loss(self, before):
        """Without synchronous mode, losing what the primary held alone is the measured cost."""
        return before.get("synchronous_mode") is False

    def write_gap_bound(self, terms):
        """Writes may stop when the replicas go (strict, quorum) and cannot go on from the
        primary's death to the heal; then the nodes start, a leader takes the key on its
        next loop, HAProxy marks it up and the aggregator connects."""
        return terms.bound(
            replica_stops=REPLICA_STOPS,
            alone=self.alone_seconds(),
            hold=float(self.hold),
            loop_wait=terms.loop_wait,
            retry_timeout=terms.retry_timeout,
            haproxy_up=terms.haproxy_up,
            connect_timeout=terms.connect_timeout,
        )
