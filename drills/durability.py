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

lagging-standbys: the replicas fall behind, then the primary's node dies. The
primary's WAL senders are frozen (SIGSTOP) for a few seconds under load, as a slow or
congested network would hold WAL back, then its node is killed. Without synchronous mode
the primary kept acknowledging what no replica received; a replica within
maximum_lag_on_failover is promoted and that is lost, and the drill reports it beside
the lag. With it, commits waited for the synchronous standby, so nothing acknowledged is
missing from it. (netem, the usual way to delay a network, is not in this host's
kernel; frozen senders are the same lag, exactly timed.)
"""

import time

from .faults import ContainerCrash, Fault, LeaderLoss
from .postgres import run_sql

# Seconds the primary runs without a replica before its node is killed: two Patroni
# loops at least (sync mode drops the missing standby on one), read in prepare.
ALONE_LOOPS = 2
ALONE_MARGIN = 5
# Seconds allowed for Patroni to stop the replicas (each stops its PostgreSQL first):
# with strict or quorum durability the primary stops acknowledging at the first.
REPLICA_STOPS = 10


class PrimaryLoss(ContainerCrash):
    """A durability drill: something keeps the replicas behind, then the primary's node
    is killed. What it acknowledged meanwhile, from `window_start` (a key its inject
    sets) to the kill, is counted under `window`; losing it is the measured cost only
    without synchronous mode."""

    window, window_start = "", ""

    def before(self, cluster, node):
        return {"synchronous_mode": cluster.synchronous_mode()}

    def describe(self, cluster, node):
        raise NotImplementedError

    def effect(self, cluster, node, before):
        if "primary_killed_at" not in before or cluster.container_running(node):
            return None
        return self.describe(cluster, node)

    def ack_windows(self, before):
        if "primary_killed_at" not in before:
            return {}
        return {self.window: (before[self.window_start], before["primary_killed_at"])}

    def tolerates_loss(self, before):
        """Without synchronous mode, losing what only the primary held is the measured cost."""
        return before.get("synchronous_mode") is False


class StandbyLoss(PrimaryLoss, Fault):
    name, hold, expect_failover = "standby-loss", 30, None
    loop_wait = 5.0
    # The primary alone: from the replicas' stop to its own death.
    window, window_start = "acknowledged_alone", "replicas_stopped_at"

    def prepare(self, cluster):
        self.loop_wait = float(cluster.dynamic_config()["loop_wait"])

    def alone_seconds(self):
        return ALONE_LOOPS * self.loop_wait + ALONE_MARGIN

    def replicas(self, cluster, node):
        return [name for name in cluster.nodes if name != node]

    def inject(self, cluster, node, before):
        for replica in self.replicas(cluster, node):
            cluster.exec(replica, "systemctl", "stop", "patroni")
        before["replicas_stopped_at"] = time.time()
        time.sleep(self.alone_seconds())
        before["primary_killed_at"] = time.time()
        cluster.docker("kill", node)

    def describe(self, cluster, node):
        return f"Patroni stopped on {', '.join(self.replicas(cluster, node))}, then container {node} killed"

    def heal(self, cluster, node):
        for replica in self.replicas(cluster, node):
            cluster.exec(replica, "systemctl", "start", "patroni")
        cluster.docker("start", node)

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


# Seconds the primary's WAL senders stay frozen before its node is killed.
LAG_SECONDS = 3.0
WAL_SENDER = "walsender"
# Bytes of WAL each replica has not been sent (the senders' position, kept while frozen).
LAG_QUERY = "SELECT application_name, pg_current_wal_lsn() - sent_lsn FROM pg_stat_replication"


class LaggingStandbys(PrimaryLoss, LeaderLoss):
    name, hold, expect_failover = "lagging-standbys", 30, None
    # What the primary acknowledged while it sent no WAL.
    window, window_start = "acknowledged_while_lagging", "senders_frozen_at"

    def inject(self, cluster, node, before):
        cluster.exec(node, "pkill", "-STOP", "-f", WAL_SENDER)
        before["senders_frozen_at"] = time.time()
        try:
            time.sleep(LAG_SECONDS)
            rows = run_sql(cluster.connect(cluster.nodes[node], dbname="postgres"), LAG_QUERY)
            before["lag_bytes"] = {name: int(lag) for name, lag in rows}
            before["primary_killed_at"] = time.time()
            cluster.docker("kill", node)
        except Exception:
            cluster.exec(node, "pkill", "-CONT", "-f", WAL_SENDER, check=False)
            raise

    def describe(self, cluster, node):
        return f"WAL senders on {node} frozen {LAG_SECONDS} s, then {node} killed"

    def report(self, cluster, before, node):
        return {
            "replica_lag_bytes_at_kill": before.get("lag_bytes"),
            "maximum_lag_on_failover": cluster.dynamic_config().get("maximum_lag_on_failover"),
        }

    def write_gap_bound(self, terms):
        """Synchronous commits wait while the senders are frozen; then as any loss of the leader."""
        _, named = super().write_gap_bound(terms)
        named.pop("margin")
        return terms.bound(replicas_lagging=LAG_SECONDS, **named)
