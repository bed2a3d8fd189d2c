"""The fault catalogue: how each drill breaks the cluster, heals it, and how the runner
sees from outside that the fault really happened.

Every inject and heal step goes through `Cluster.exec`/`Cluster.docker`, which raise
`CommandFailed` (the command and its stderr) on a non-zero exit. `effect()` is polled
during the hold: it returns a sentence describing what was observed, or None while
the fault has not (yet) had its effect.
"""

ALERT_FIRE_LIMIT = 60  # seconds from the fault within which its alerts must fire


class Fault:
    name = ""
    hold = 0  # seconds between inject and heal
    loses_node = True  # a node goes away and must rejoin
    expect_failover = True  # True: a new leader must appear; False: none may; None: either
    # Alerts that must fire in Alertmanager during the fault and resolve after the heal
    # (checked where the inventory has a monitoring group).
    alerts = ()
    alert_fire_limit = ALERT_FIRE_LIMIT  # seconds from the fault within which they must fire
    # Prometheus must show exactly one leader change and never two leaders at once.
    leader_change_in_prometheus = False
    # Probes this fault blinds by design (no budget of unknown time applies to them).
    blinds = ()
    # How many times the leadership must pass to another node (None: not checked).
    leader_moves = None
    # The heal builds the lost node anew: it comes back as a new copy, when the heal ends.
    rebuilds = False
    # Every request must be acknowledged on its first attempt: the aggregators hold the
    # writes through the fault instead of answering 503 (a planned switchover).
    answers_every_request = False

    def prepare(self, cluster):
        """Bring the cluster to the state the fault starts from, before anything is read."""

    def target(self, cluster, leader, sync_standby):
        return leader

    def before(self, cluster, node):
        """State read before the fault that effect() compares against."""
        return None

    def inject(self, cluster, node, before):
        raise NotImplementedError

    def effect(self, cluster, node, before):
        raise NotImplementedError

    def before_heal(self, cluster, node):
        """What the fault must let happen before it is healed (its hold is over)."""

    def heal(self, cluster, node):
        """Bring the node back; returns when the heal action is done."""

    def after_load(self, cluster, before):
        """A last step once the load is over (what the load itself still needed);
        returns the failures it saw ([]: none)."""
        return []

    def ack_windows(self, before):
        """{name: (start, end)}: spans of the fault whose acknowledgements the result
        counts under that name ({}: none)."""
        return {}

    def tolerates_loss(self, before):
        """Whether losing acknowledged events is this run's measured cost rather than a
        failure (a durability mode that does not promise them)."""
        return False

    def report(self, cluster, before, node):
        """What this fault measured beyond the common verdicts, for the result ({}: nothing)."""
        return {}

    def writes_stop_limit(self, cluster):
        """Seconds within which the target must refuse writes (None: no such rule)."""
        return None

    def write_gap_bound(self, terms):
        """(seconds, {term: seconds}): the longest write gap this fault's configuration
        allows (drills.bounds). By default nothing in the database stops writes."""
        return terms.bound()

    def hold_for(self, cluster):
        """Seconds between inject and heal on this cluster."""
        return self.hold

    def load_seconds(self, cluster):
        """The cap on the load after the warm-up (the runner stops it COOLDOWN s after the
        settle): the hold (which waits for the expected alerts, up to ALERT_FIRE_LIMIT),
        the heal, the rejoin and the settling."""
        return self.hold_for(cluster) + 300 + (self.alert_fire_limit if self.alerts and cluster.monitoring else 0)

    # Faults at the front door: the VIP must move away from the target (None: it may).
    moves_vip = None


class LeaderLoss(Fault):
    """The leader goes away for good: someone else must lead before it comes back, so
    the hold outlasts the leader key (ttl), the replicas' next loop and an election."""

    def hold_for(self, cluster):
        config = cluster.dynamic_config()
        return max(self.hold, config["ttl"] + config["loop_wait"] + 10)

    def write_gap_bound(self, terms):
        """The key expires at most ttl after its last renewal; the replicas see it on
        their next loop (loop_wait), after at most retry_timeout spent leaving a DCS
        member that died with the node; HAProxy marks the new primary up; the
        aggregator's connection attempts to the dead node time out."""
        return terms.bound(
            ttl=terms.ttl,
            loop_wait=terms.loop_wait,
            retry_timeout=terms.retry_timeout,
            haproxy_up=terms.haproxy_up,
            connect_timeout=terms.connect_timeout,
        )


class Switchover(Fault):
    name, loses_node, answers_every_request = "switchover", False, True

    def inject(self, cluster, node, before):
        candidate = cluster.switchover_candidate()
        if candidate is None:
            raise RuntimeError("switchover: no streaming replica to hand over to")
        status, body = cluster.patroni(
            node, "/switchover", timeout=60, method="POST", body={"leader": node, "candidate": candidate}
        )
        if status != 200:
            raise RuntimeError(f"switchover refused: {status} {body}")

    def write_gap_bound(self, terms):
        """The leader demotes and the candidate promotes at once; HAProxy marks it up."""
        return terms.bound(haproxy_up=terms.haproxy_up)

    def effect(self, cluster, node, before):
        leader = cluster.leader()
        return f"Patroni reports {leader} as leader instead of {node}" if leader not in (None, node) else None


class UnitStop:
    """Stop a systemd unit on the target, start it again at the heal."""

    unit = ""

    def inject(self, cluster, node, before):
        cluster.exec(node, "systemctl", "stop", self.unit)

    def stopped(self, cluster, node):
        state, _ = cluster.unit_state(node, self.unit)
        return f"{self.unit}.service on {node} is {state}" if state in ("inactive", "failed") else None

    def heal(self, cluster, node):
        cluster.exec(node, "systemctl", "start", self.unit)


class ContainerCrash:
    """docker kill the target, docker start it at the heal."""

    def inject(self, cluster, node, before):
        cluster.docker("kill", node)

    def stopped(self, cluster, node):
        return None if cluster.container_running(node) else f"container {node} is not running"

    def heal(self, cluster, node):
        cluster.docker("start", node)


class StopPatroni(UnitStop, Fault):
    name, hold, unit = "stop-patroni", 10, "patroni"

    def write_gap_bound(self, terms):
        """Patroni stops PostgreSQL and releases the key; a replica takes it on its next loop."""
        return terms.bound(loop_wait=terms.loop_wait, haproxy_up=terms.haproxy_up)

    def effect(self, cluster, node, before):
        return self.stopped(cluster, node)


class KillPostgres(Fault):
    name = "kill-postgres"
    expect_failover = None  # Patroni restarts it in place or fails over; reported

    def before(self, cluster, node):
        pid_file = f"{cluster.data_directory(node)}/postmaster.pid"
        return int(cluster.exec(node, "head", "-1", pid_file).stdout.strip())

    def inject(self, cluster, node, before):
        cluster.exec(node, "kill", "-9", str(before))

    def write_gap_bound(self, terms):
        """Patroni sees the dead postmaster on its next loop and starts it (or fails over)."""
        return terms.bound(loop_wait=terms.loop_wait, haproxy_up=terms.haproxy_up)

    def effect(self, cluster, node, before):
        # Exits 0 either way: a failed exec raises, it never reads as "gone".
        answer = cluster.exec(node, "sh", "-c", f"kill -0 {before} 2>/dev/null && echo alive || echo gone").stdout
        return f"postmaster {before} on {node} is gone" if answer.strip() == "gone" else None


class CrashPrimary(ContainerCrash, LeaderLoss):
    name, hold = "crash-primary", 30
    leader_change_in_prometheus = True

    def effect(self, cluster, node, before):
        return self.stopped(cluster, node)


class ShutdownPrimary(ContainerCrash, Fault):
    """The primary's node shut down cleanly (`docker stop`: systemd stops every service,
    Patroni stops PostgreSQL and releases the leader key), started again at the heal."""

    name, hold = "shutdown-primary", 20
    # Seconds systemd in the node has to stop every service, as patroni.service's TimeoutStopSec.
    stop_timeout = 60

    def inject(self, cluster, node, before):
        cluster.docker("stop", "-t", str(self.stop_timeout), node)

    def effect(self, cluster, node, before):
        return None if cluster.container_running(node) else f"container {node} was stopped cleanly"

    def write_gap_bound(self, terms):
        """The key is released, not left to expire: a replica takes it when the DCS tells
        it (or on its next loop), promotes, and HAProxy marks it up."""
        return terms.bound(loop_wait=terms.loop_wait, haproxy_up=terms.haproxy_up)


class IsolatePrimary(LeaderLoss):
    name, hold = "isolate-primary", 40

    def inject(self, cluster, node, before):
        self.link = cluster.lab_interface(node)
        cluster.set_lab_link(node, *self.link, up=False)

    def effect(self, cluster, node, before):
        peers = [n for n in cluster.nodes if n != node]
        if any(cluster.reachable_from(peer, node) for peer in peers):
            return None
        return f"{node} is unreachable from {', '.join(peers)}"

    def heal(self, cluster, node):
        cluster.set_lab_link(node, *self.link, up=True)


class DcsLeaderLoss(Fault):
    """Stop the DCS server that is the DCS's own leader: the others elect a new one;
    Patroni must neither fail over nor demote, and writes continue."""

    name, hold, loses_node, expect_failover = "dcs-leader-loss", 20, False, False

    def target(self, cluster, leader, sync_standby):
        return cluster.dcs_leader_node()

    def inject(self, cluster, node, before):
        cluster.exec(node, "systemctl", "stop", cluster.dcs_unit)

    def effect(self, cluster, node, before):
        peer = next(n for n in cluster.nodes if n != node)
        if cluster.dcs_server_healthy(peer, node):
            return None
        return f"{cluster.dcs_unit} on {node} reported down from {peer}"

    def heal(self, cluster, node):
        cluster.exec(node, "systemctl", "start", cluster.dcs_unit)

    def write_gap_bound(self, terms):
        """Patroni renews the key through the new DCS leader within retry_timeout."""
        return terms.bound(retry_timeout=terms.retry_timeout)


class DcsQuorumLoss(Fault):
    """Stop two of the three DCS servers for 30 s: the DCS has no quorum. Without
    failsafe mode the primary must stop accepting writes within ttl and come back after
    the heal; with it, it keeps accepting writes while every member sees the others."""

    name, hold, loses_node, expect_failover = "dcs-quorum-loss", 30, False, None
    # Without a quorum nobody reads the leader key, Patroni included: nor can anyone change it.
    blinds = ("dcs",)

    def target(self, cluster, leader, sync_standby):
        """The primary's node keeps its DCS server; the two others are stopped."""
        return leader

    def stopped(self, cluster, node):
        return [n for n in cluster.nodes if n != node][:2]

    def inject(self, cluster, node, before):
        for peer in self.stopped(cluster, node):
            cluster.exec(peer, "systemctl", "stop", cluster.dcs_unit)

    def effect(self, cluster, node, before):
        down = self.stopped(cluster, node)
        if any(cluster.dcs_server_healthy(node, peer) for peer in down):
            return None
        return f"{cluster.dcs_unit} stopped on {', '.join(down)}: no quorum"

    def heal(self, cluster, node):
        for peer in self.stopped(cluster, node):
            cluster.exec(peer, "systemctl", "start", cluster.dcs_unit)

    def writes_stop_limit(self, cluster):
        """ttl without failsafe mode: the leader key can no longer be renewed. With
        failsafe mode the primary may keep writing while every member answers it."""
        config = cluster.dynamic_config()
        return None if config.get("failsafe_mode") else float(config["ttl"])

    def write_gap_bound(self, terms):
        """Without a quorum the primary may stop writing for the whole hold; after the
        heal the DCS elects a leader, Patroni's next loop takes the key and promotes."""
        return terms.bound(hold=self.hold, loop_wait=terms.loop_wait, haproxy_up=terms.haproxy_up)


class ReplicaCrash(CrashPrimary):
    name, hold, expect_failover = "replica-crash", 20, False
    hold_for = Fault.hold_for  # a replica's loss elects nobody
    alerts = ("StandbyNotStreaming",)
    leader_change_in_prometheus = False

    def target(self, cluster, leader, sync_standby):
        """The synchronous standby: losing it is the case synchronous mode must survive.
        Without synchronous mode any replica will do."""
        if sync_standby:
            return sync_standby
        if cluster.synchronous_mode():
            raise RuntimeError("replica-crash: synchronous mode is on but no synchronous standby is designated")
        return next(n for n in cluster.nodes if n != leader)

    def write_gap_bound(self, terms):
        """Commits wait for the synchronous standby until the primary's next loop names another."""
        return terms.bound(loop_wait=terms.loop_wait)


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

    def write_gap_bound(self, terms):
        """HAProxy takes the stopped aggregator out after its failed checks."""
        return terms.bound(haproxy_down=terms.haproxy_down)


class FrontDoorFault(Fault):
    """A fault on the balancer holding the VIP: keepalived must move the VIP to another
    balancer; the database keeps its leader."""

    loses_node, expect_failover, moves_vip = False, False, True

    def target(self, cluster, leader, sync_standby):
        holders = cluster.vip_holders()
        if len(holders) != 1:
            raise RuntimeError(f"{self.name}: expected one VIP holder, found {holders or 'none'}")
        return holders[0]

    def effect(self, cluster, node, before):
        stopped, holders = self.stopped(cluster, node), cluster.vip_holders()
        if stopped and holders and node not in holders:
            return f"{stopped}; the VIP is on {', '.join(holders)}"
        return None


class CrashBalancer(ContainerCrash, FrontDoorFault):
    name, hold = "crash-balancer", 20

    def write_gap_bound(self, terms):
        """The backup balancer takes the VIP after three missed VRRP advertisements."""
        return terms.bound(vrrp_takeover=terms.vrrp_takeover)


class StopHaproxy(UnitStop, FrontDoorFault):
    name, hold, unit = "stop-haproxy", 15, "haproxy"

    def write_gap_bound(self, terms):
        """keepalived's track script fails, then the backup takes the VIP."""
        return terms.bound(track_script=terms.track_script, vrrp_takeover=terms.vrrp_takeover)


class RollingDeploy(Fault):
    """The aggregator play with a changed setting under load, then again with the
    inventory's own (the heal): one node at a time, drained out of HAProxy first."""

    name, loses_node, expect_failover = "rolling-deploy", False, False
    changed_setting = "aggregator_batch_max_wait_ms=3"

    def target(self, cluster, leader, sync_standby):
        return ",".join(cluster.aggregators)

    def before(self, cluster, node):
        return {host: cluster.unit_state(host, "aggregator")[1] for host in cluster.aggregators}

    def inject(self, cluster, node, before):
        cluster.playbook("playbooks/aggregator.yml", "-e", self.changed_setting)

    def effect(self, cluster, node, before):
        after = {host: cluster.unit_state(host, "aggregator") for host in cluster.aggregators}
        if all(state == "active" and pid not in (0, before[host]) for host, (state, pid) in after.items()):
            return f"every aggregator restarted with {self.changed_setting} ({', '.join(after)})"
        return None

    def heal(self, cluster, node):
        cluster.playbook("playbooks/aggregator.yml")

    def load_seconds(self, cluster):
        return 900  # two runs of the play fit well within this on the lab


# The failover drills (`python -m drills all`); drills.catalogue adds the day-2 ones.
FAILOVER = {
    f.name: f
    for f in (
        Switchover,
        StopPatroni,
        KillPostgres,
        CrashPrimary,
        ShutdownPrimary,
        IsolatePrimary,
        DcsLeaderLoss,
        DcsQuorumLoss,
        ReplicaCrash,
        AppRestart,
        CrashBalancer,
        StopHaproxy,
        RollingDeploy,
    )
}
