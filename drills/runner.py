"""Run one drill: load, fault, heal, settle, check, report. `Drill.run` is its phases
in order; each phase is one method and returns what the next ones read."""

import datetime
import pathlib
import subprocess
import time
import uuid
from dataclasses import dataclass, field

from . import analysis
from .bounds import Terms
from .catalogue import CATALOGUE
from .checks import check_consistency, get_json, missing_on_leader, require_whole, whole_problems
from .faults import ALERT_FIRE_LIMIT
from .load import finish, publisher_counts, read_acks, start_load
from .monitoring import AlertWatch, Monitoring
from .nodes import CommandFailed
from .patroni import PATRONI_CLUSTER
from .polling import wait_until as wait
from .report import write_report
from .sampler import Sampler

WARMUP = 5  # seconds of load before the fault, at least
# Seconds of load before the fault at most: on a busy host the publisher may take longer
# than WARMUP to deliver at the offered rate, and a fault must hit a loaded cluster.
WARMUP_LIMIT = 60
COOLDOWN = 5  # seconds the load goes on after the cluster settled
# A loaded cluster: in the second before the fault, and from the settle to the end of the
# load, at least this share of the offered rate was acknowledged.
LOADED_SHARE = 0.5
# Each probe may be unknown (no fresh reading) for at most this share of the fault
# window, and may go at most STALL_LIMIT seconds without a reading.
UNKNOWN_BUDGET = 0.10
STALL_LIMIT = 2.0
REJOIN_LIMIT = 60  # a lost node must stream again within this many seconds of returning
EFFECT_TIMEOUT = 15  # seconds a fault without a hold has to show its effect
ALERT_RESOLVE_LIMIT = 60  # seconds after the cluster settled within which its alerts resolve
# What a failed inject or heal raises: a command's exit code, a refused REST call, a hung exec.
FAULT_ERRORS = (CommandFailed, RuntimeError, OSError, subprocess.TimeoutExpired)


@dataclass
class Timeline:
    """When each phase happened (time.time()), and what the fault phase saw."""

    fault: float = 0.0
    heal: float = 0.0
    heal_done: float = 0.0
    injected: bool = False
    healed: bool = False
    healthy_before: str | None = None  # why the effect probe did not see the healthy state
    settle: float = 0.0
    end: float = 0.0
    settled: bool = False
    effect: str | None = None
    errors: list = field(default_factory=list)
    rejoin: dict | None = None
    before: object = None  # what the fault read before it was injected


class Drill:
    def __init__(self, cluster, name, rate=200, settle_timeout=120, report_dir=None, log=print):
        if name not in CATALOGUE:
            raise ValueError(f"unknown drill {name!r}; choose from {', '.join(CATALOGUE)}")
        self.cluster, self.fault, self.rate = cluster, CATALOGUE[name](), rate
        self.settle_timeout, self.report_dir, self.log = settle_timeout, report_dir, log
        self.run_id = f"drill-{name}-{uuid.uuid4().hex[:8]}"
        self.dcs_leader_before = None
        self.ack_log = f"/tmp/{self.run_id}.acks"
        self.stop_file = f"/tmp/{self.run_id}.stop"

    def run(self):
        leader, target, stats_before = self._prepare()
        # Read from Patroni while the cluster is whole: after the fault it may not answer.
        writes_stop_limit = self.fault.writes_stop_limit(self.cluster)
        bound = self.fault.write_gap_bound(Terms(self.cluster, self.cluster.dynamic_config()))
        duration = WARMUP_LIMIT + self.fault.load_seconds(self.cluster)
        timeline, load, load_out = Timeline(), None, ""
        sampler, monitoring, watch = self._start_watching()
        try:
            load = start_load(self.cluster, self.rate, self.ack_log, duration, self.run_id, self.stop_file)
            self._warm_up()
            self._inject(target, watch, timeline)
            self._heal_and_settle(target, watch, timeline)
            load_out = self._stop_load(load, duration)
        finally:
            # Whatever failed above: no publisher, sampler or alert watch outlives the
            # drill, and a fault injected is healed.
            if load is not None and load.returncode is None:
                pathlib.Path(self.stop_file).touch()
                load_out = load_out or finish(load, timeout=30)
            sampler.stop()
            if watch:
                watch.stop()
            if timeline.injected and not timeline.healed:
                self._heal(target, timeline)
        timeline.end = time.time()
        after_load = self._after_load(target, timeline)
        acks = read_acks(self.ack_log)
        ack_times = [t for _, _, t in acks]
        result = {
            **self._identity(leader, target, writes_stop_limit),
            **self._timing(timeline),
            **self._acknowledgements(acks, timeline, bound),
            **self._primaries(sampler.samples, ack_times, timeline, monitoring, leader, target),
            **self._probes(sampler, timeline, leader),
            **self._front_door(sampler.samples, timeline.fault, target),
            "alerts": watch.summary(self.fault.alerts, timeline.fault, timeline.heal) if watch else None,
            "alert_poll_errors": watch.errors if watch else 0,
            "consistency": check_consistency(self.cluster, stats_before),
            **publisher_counts(load_out),
            "publisher": load_out[-1500:],
            **self._fault_report(target, timeline),
        }
        result["left_broken"] = self._left_broken()
        result["failures"] = verdict(result) + after_load
        result["passed"] = not result["failures"]
        result["report"] = write_report(result, sampler.samples, ack_times, timeline.end, self.report_dir)
        return result

    # --- Phases, in order --------------------------------------------------------
    def _prepare(self):
        """A whole cluster, who leads, the fault's target and /stats before anything."""
        cluster, fault = self.cluster, self.fault
        fault.prepare(cluster)
        require_whole(cluster)
        members = cluster.members()
        leader = next(m["name"] for m in members if m["role"] == "leader")
        sync = next((m["name"] for m in members if m["role"] in PATRONI_CLUSTER.SYNCHRONOUS_ROLES), None)
        target = fault.target(cluster, leader, sync)
        # Where the DCS's own leader was: a failover whose node also held it waits for a
        # DCS election too (the failover timeline shows it).
        try:
            self.dcs_leader_before = cluster.dcs_leader_node()
        except (*FAULT_ERRORS, ValueError, KeyError) as exc:
            self.dcs_leader_before = None
            self.log(f"[{fault.name}] the DCS leader could not be read: {exc}")
        self.log(
            f"[{fault.name}] leader {leader}, sync standby {sync}, target {target}, DCS leader {self.dcs_leader_before}"
        )
        return leader, target, get_json(cluster, "/stats")

    def _start_watching(self):
        """The sampler, and where the inventory has monitoring the alert watch (once the
        alerts this fault raises are quiet: one left from before would not be its own)."""
        sampler = Sampler(self.cluster)
        sampler.start()
        monitoring = Monitoring.of(self.cluster)
        watch = AlertWatch(monitoring).start() if monitoring and self.fault.alerts else None
        if watch:
            wait(lambda: watch.quiet(self.fault.alerts), ALERT_RESOLVE_LIMIT)
        return sampler, monitoring, watch

    def _warm_up(self):
        """WARMUP s of load, then until the acknowledgements flow at LOADED_SHARE of the
        offered rate (at most WARMUP_LIMIT s in all)."""
        time.sleep(WARMUP)

        def flowing():
            now = time.time()
            acks = [t for _, _, t in read_acks(self.ack_log)]
            return analysis.acks_between(acks, now - 1, now) >= LOADED_SHARE * self.rate

        if not wait(flowing, WARMUP_LIMIT - WARMUP):
            self.log(f"[{self.fault.name}] the load does not flow at {LOADED_SHARE:.0%} of {self.rate}/s yet")

    def _inject(self, target, watch, timeline):
        """Inject the fault and hold it, watching for its effect (and its alerts)."""
        cluster, fault = self.cluster, self.fault
        hold = fault.hold_for(cluster)
        try:
            before = timeline.before = fault.before(cluster, target)
            timeline.healthy_before = healthy_state(fault, cluster, target, before)
            timeline.fault = time.time()
            timeline.injected = True
            fault.inject(cluster, target, before)
        except FAULT_ERRORS as exc:
            timeline.fault = timeline.fault or time.time()
            timeline.errors.append(f"inject on {target} failed: {exc}")
            time.sleep(hold)
            return
        self.log(f"[{fault.name}] fault injected on {target}")
        timeline.effect = observe_effect(fault, cluster, target, before, hold)
        self.log(f"[{fault.name}] observed: {timeline.effect or 'NO EFFECT'}")
        if watch:  # the fault lasts until its alerts fire (or the limit passes)
            limit = fault.alert_fire_limit - (time.time() - timeline.fault)
            wait(lambda: watch.fired(fault.alerts, timeline.fault), limit)

    def _heal_and_settle(self, target, watch, timeline):
        """Heal, wait for the lost node to rejoin and the cluster (and front door) to be whole."""
        cluster, fault = self.cluster, self.fault
        self._heal(target, timeline)
        self.log(f"[{fault.name}] healed after {timeline.heal - timeline.fault:.1f} s")
        if fault.loses_node:  # (a node the heal built anew rejoins as the heal ends)
            since = timeline.heal_done if fault.rebuilds else timeline.heal
            timeline.rejoin = self._wait_rejoin(target, since, timeline.fault)
        timeline.settled = wait(lambda: cluster.healthy() and cluster.front_door_whole(), self.settle_timeout)
        timeline.settle = time.time()
        state = "settled" if timeline.settled else "NOT settled"
        self.log(f"[{fault.name}] cluster {state} after {timeline.settle - timeline.heal:.1f} s")
        if watch:
            wait(lambda: watch.resolved(fault.alerts, timeline.fault), ALERT_RESOLVE_LIMIT)
            watch.stop()

    def _heal(self, target, timeline):
        if timeline.injected and not timeline.errors:
            try:
                self.fault.before_heal(self.cluster, target)
            except FAULT_ERRORS as exc:
                timeline.errors.append(f"before the heal of {target}: {exc}")
        timeline.heal, timeline.healed = time.time(), True
        try:
            self.fault.heal(self.cluster, target)
        except FAULT_ERRORS as exc:
            timeline.errors.append(f"heal of {target} failed: {exc}")
        timeline.heal_done = time.time()

    def _stop_load(self, load, duration):
        """The publisher's output: the load is stopped COOLDOWN s after the settle."""
        time.sleep(COOLDOWN)
        pathlib.Path(self.stop_file).touch()
        return finish(load, timeout=duration + 120)

    def _after_load(self, target, timeline):
        """The fault's last step, once the load is over (only after an inject that ran)."""
        if not timeline.injected or timeline.errors:
            return []
        try:
            return self.fault.after_load(self.cluster, timeline.before)
        except FAULT_ERRORS as exc:
            return [f"the step after the load on {target} failed: {exc}"]

    def _fault_report(self, target, timeline):
        """The fault's own measurements (after an inject that ran)."""
        if not timeline.injected:
            return {}
        try:
            report = self.fault.report(self.cluster, timeline.before, target)
        except FAULT_ERRORS as exc:
            report = {"fault_report_error": str(exc)}
        for name, value in report.items():
            self.log(f"[{self.fault.name}] {name}: {value}")
        return report

    def _left_broken(self):
        """What the drill leaves broken ([]: the cluster and the front door are whole),
        said loudly: the next drill or the operator must know. Not whole at once, it gets
        one Patroni loop (and 5 s) more: on Consul a member whose agent was marked failed
        loses its key with its session some seconds after it rejoined, and its Patroni
        writes it again on its next loop. What is still missing then is broken."""
        problems = whole_problems(self.cluster)
        if problems:
            self.log(f"[{self.fault.name}] not whole yet ({'; '.join(problems)}): waiting one Patroni loop")
            wait(lambda: not whole_problems(self.cluster), self._loop_wait() + 5)
            problems = whole_problems(self.cluster)
        for problem in problems:
            self.log(f"[{self.fault.name}] LEFT BROKEN: {problem}")
        return problems

    def _loop_wait(self):
        try:
            return float(self.cluster.dynamic_config()["loop_wait"])
        except Exception:  # no member answers: a generous loop
            return 30.0

    # --- The result, part by part ---------------------------------------------------
    def _identity(self, leader, target, writes_stop_limit):
        fault = self.fault
        return {
            "drill": fault.name,
            "run_id": self.run_id,
            "leader_before": leader,
            "target": target,
            "expect_failover": fault.expect_failover,
            "loses_node": fault.loses_node,
            "offered_rate": self.rate,
            "moves_vip": fault.moves_vip,
            "alert_fire_limit_s": fault.alert_fire_limit,
            "writes_stop_limit_s": writes_stop_limit,
            "blind_probes": list(fault.blinds),
            "leader_moves_expected": fault.leader_moves,
            "rebuilds": fault.rebuilds,
            "answers_every_request": fault.answers_every_request,
            "dcs_leader_before": self.dcs_leader_before,
        }

    def _probes(self, sampler, timeline, leader):
        """Each probe's unknown share of the fault window and its longest silence, and
        which probes never saw the healthy cluster before the fault."""
        window = (timeline.fault, timeline.settle)
        return {
            "probes_never_healthy": analysis.probes_never_healthy(sampler.samples, timeline.fault, leader),
            "unknown_share": analysis.unknown_shares(sampler.samples, *window),
            "probe_longest_gap_s": sampler.probe_gaps(),
            "probe_errors": sampler.probe_errors(),
        }

    @staticmethod
    def _timing(timeline):
        return {
            "fault_effect": timeline.effect,
            "healthy_before": timeline.healthy_before,
            "fault_errors": timeline.errors,
            "fault_time": timeline.fault,
            "heal_time": timeline.heal,
            "heal_done_time": timeline.heal_done,
            "settle_time": timeline.settle,
            "settled": timeline.settled,
            "rejoin": timeline.rejoin,
        }

    def _acknowledgements(self, acks, timeline, bound):
        """What the publisher was told was stored, whether the leader has it, and how
        loaded the cluster was around the fault."""
        ack_times = [t for _, _, t in acks]
        missing = missing_on_leader(self.cluster, acks)
        last = max(ack_times, default=timeline.settle)
        return {
            "acknowledged": len(acks),
            "write_downtime_s": round(analysis.longest_ack_gap(ack_times, timeline.fault - 1, timeline.settle), 3),
            "write_gap_bound_s": bound[0],
            "write_gap_bound_terms": bound[1],
            "acks_second_before_fault": analysis.acks_between(ack_times, timeline.fault - 1, timeline.fault),
            "ack_rate_after_settle": _rounded(analysis.ack_rate(ack_times, timeline.settle, last)),
            "acknowledged_lost": len(missing),
            "lost_examples": missing[:10],
            "last_ack_time": max(ack_times, default=None),
            "loss_tolerated": bool(timeline.injected and self.fault.tolerates_loss(timeline.before)),
            **{
                name: analysis.acks_between(ack_times, start, end)
                for name, (start, end) in (self.fault.ack_windows(timeline.before) if timeline.injected else {}).items()
            },
        }

    def _primaries(self, samples, ack_times, timeline, monitoring, leader, target):
        """Who led, when the leadership moved and where its seconds went, and whether two
        nodes ever took writes."""
        leader_after = self.cluster.leader()
        new_leader_after, new_leader = analysis.time_to_new_leader(samples, timeline.fault, leader)
        self.log(f"[{self.fault.name}] new leader {new_leader} after {new_leader_after} s")
        timeline_phases = analysis.failover_timeline(samples, ack_times, timeline.fault, leader)
        self.log(f"[{self.fault.name}] failover timeline (s from the fault): {timeline_phases}")
        split = analysis.split_brain_samples(samples)
        fenced = analysis.fenced_primary_samples(samples)
        prometheus_leaders = (
            monitoring.leaders_between(timeline.fault - 10, timeline.settle)
            if monitoring and self.fault.leader_change_in_prometheus
            else None
        )
        return {
            "leader_after": leader_after,
            "time_to_new_leader_s": _rounded(new_leader_after),
            "new_leader": new_leader,
            "failover": leader_after != leader,
            "leader_moves": analysis.leader_moves(samples, timeline.fault, leader),
            "split_brain_samples": len(split),
            "split_brain_examples": split[:5],
            "fenced_primary_samples": len(fenced),
            "fenced_primary_examples": fenced[:5],
            "samples": len(samples),
            "longest_sampling_gap_s": round(analysis.longest_sampling_gap(samples), 3),
            "stale_samples": analysis.stale_samples(samples),
            "writes_stopped_after_s": _rounded(analysis.writes_stopped_after(samples, timeline.fault, target)),
            "prometheus_leaders": prometheus_leaders,
            "failover_timeline": timeline_phases,
        }

    def _front_door(self, samples, fault_time, target):
        """Who held the VIP before and after, and for how long two balancers held it."""
        overlaps = analysis.vip_overlaps(samples)
        before = analysis.vip_holders(next((x for x in reversed(samples) if x["t"] < fault_time), {}))
        moved = analysis.vip_moved_after(samples, fault_time, target) if self.fault.moves_vip else None
        return {
            "vip_holder_before": ",".join(before) or None,
            "vip_holder_after": ",".join(analysis.vip_holders(samples[-1])) if samples else None,
            "vip_moved_after_s": _rounded(moved),
            "vip_two_holders_samples": sum(1 for x in samples if len(analysis.vip_holders(x)) > 1),
            "vip_two_holders_max_s": round(max((b - a for a, b in overlaps), default=0.0), 3),
        }

    # --- Rejoin ------------------------------------------------------------------------
    def _wait_rejoin(self, node, since, fault_time):
        """Seconds from `since` until `node` streams again, and whether it was re-cloned
        (Patroni logs a basebackup or reinitialize when it does)."""
        streaming = wait(lambda: self._streams_again(node, fault_time), REJOIN_LIMIT + 30)
        seconds = time.time() - since
        log = self.cluster.exec(
            node, "journalctl", "-u", "patroni", "--since", f"@{int(fault_time)}", "--no-pager", check=False
        ).stdout
        return {"node": node, "streaming": streaming, "seconds": round(seconds, 1), "reinit": recloned(log)}

    def _streams_again(self, node, fault_time):
        """Asked of the node itself (etcd may still hold its old member entry): a
        PostgreSQL started after the fault (crash, stop or demotion all restart it)
        that streams from the leader, or leads."""
        status, body = self.cluster.patroni(node, "/patroni")
        if status != 200 or not body or body.get("state") != "running":
            return False
        if body.get("role") == "primary":
            return True
        started = datetime.datetime.fromisoformat(body.get("postmaster_start_time", "1970-01-01 00:00:00+00:00"))
        return started.timestamp() >= fault_time and body.get("replication_state") == "streaming"


def recloned(patroni_log):
    """Patroni's journal says the node was copied anew (a base backup, a reinitialize, a
    bootstrap from the leader). PostgreSQL's own "all server processes terminated;
    reinitializing", after one of its processes crashed, is a restart in place."""
    return any(
        word in line
        for line in patroni_log.lower().splitlines()
        if "server processes terminated; reinitializing" not in line
        for word in ("basebackup", "reinitializ", "bootstrap from")
    )


def healthy_state(fault, cluster, node, before):
    """None when the fault's effect probe sees the healthy state before the fault (so
    what it reports later is the fault's doing); else why it does not."""
    try:
        seen = fault.effect(cluster, node, before)
    except FAULT_ERRORS as exc:
        return f"the effect probe failed before the fault: {exc}"
    return None if seen is None else f"the effect probe saw the effect before the fault: {seen}"


def observe_effect(fault, cluster, node, before, hold, timeout=EFFECT_TIMEOUT):
    """Poll the fault's visible effect during its hold (or up to `timeout` seconds for a
    fault without one) and return the first description, None when nothing showed.
    Sleeps out whatever remains of the hold."""
    started = time.monotonic()

    def seen():
        try:
            return fault.effect(cluster, node, before)
        except FAULT_ERRORS:  # e.g. an exec into a container that is just going down
            return None

    effect = wait(seen, hold or timeout)
    time.sleep(max(0.0, hold - (time.monotonic() - started)))
    return effect


def verdict(r):
    """The drill's failures (empty: passed), from its result alone."""
    failures = list(r["fault_errors"])
    if r.get("healthy_before"):
        failures.append(r["healthy_before"])
    if not r["fault_effect"]:
        failures.append(f"the fault had no observed effect on {r['target']}")
    if r["expect_failover"] is True and r["new_leader"] is None:
        failures.append("no new leader appeared after a fault that must cause a failover")
    elif (
        r["expect_failover"] is True
        and r.get("loses_node", True)
        and r["time_to_new_leader_s"] > r["heal_time"] - r["fault_time"]
    ):
        # The old leader back on a new timeline after the heal is no failover. (A
        # switchover takes no node away: it ends when Patroni answers, and the probes
        # may see the new leader a moment later.)
        failures.append(
            f"nobody took over while {r['target']} was down: a leader appeared "
            f"{r['time_to_new_leader_s']:.1f} s after the fault, "
            f"the heal came at {r['heal_time'] - r['fault_time']:.1f} s"
        )
    if r["expect_failover"] is False and r["failover"]:
        failures.append("unexpected failover")
    expected_moves = r.get("leader_moves_expected")
    if expected_moves is not None and r["leader_moves"] != expected_moves:
        failures.append(f"the leadership moved {r['leader_moves']} times, not {expected_moves}")
    if not r["settled"]:
        failures.append("cluster did not settle (one leader, all others streaming, a synchronous standby)")
    unanswered = r.get("unacknowledged_attempts") or {}
    if r.get("answers_every_request") and unanswered:
        causes = ", ".join(f"{cause}: {n}" for cause, n in sorted(unanswered.items()))
        failures.append(f"attempts the aggregators did not acknowledge ({causes}): writes must be held, not refused")
    if r["acknowledged_lost"] and not r.get("loss_tolerated"):
        failures.append(f"{r['acknowledged_lost']} acknowledged events lost")
    # A probe that stalls or cannot tell could hide split brain: that alone fails the drill.
    if r["longest_sampling_gap_s"] > STALL_LIMIT:
        failures.append(f"sampling stalled for {r['longest_sampling_gap_s']} s")
    for probe, gap in (r.get("probe_longest_gap_s") or {}).items():
        if gap > STALL_LIMIT:
            failures.append(f"probe {probe} went {gap} s without a reading (limit {STALL_LIMIT} s)")
    for probe in r.get("probes_never_healthy") or ():
        failures.append(
            f"probe {probe} never read the healthy cluster before the fault: it could not see a split brain"
        )
    for probe, share in (r.get("unknown_share") or {}).items():
        if share > UNKNOWN_BUDGET and probe not in r.get("blind_probes", ()):
            failures.append(
                f"probe {probe} was unknown for {share:.0%} of the fault window (budget {UNKNOWN_BUDGET:.0%})"
            )
    if r["split_brain_samples"]:
        failures.append(f"{r['split_brain_samples']} split-brain samples")
    bound, gap = r.get("write_gap_bound_s"), r.get("write_downtime_s")
    if bound is not None and gap is not None and gap > bound:
        failures.append(
            f"write gap {gap} s above the {bound} s the configuration allows ({r['write_gap_bound_terms']})"
        )
    loaded = LOADED_SHARE * r["offered_rate"]
    if r.get("acks_second_before_fault", loaded) < loaded:
        failures.append(
            f"the fault hit an idle cluster: {r['acks_second_before_fault']} acknowledgements in the second "
            f"before it (offered {r['offered_rate']}/s)"
        )
    rate = r.get("ack_rate_after_settle", loaded)
    if rate is None or rate < loaded:
        failures.append(f"after the settle {rate} events/s were acknowledged (offered {r['offered_rate']}/s)")
    if r.get("left_broken"):
        failures.append(f"the drill left the cluster broken: {'; '.join(r['left_broken'])}")
    limit, stopped = r.get("writes_stop_limit_s"), r.get("writes_stopped_after_s")
    if limit is not None and (stopped is None or stopped > limit):
        failures.append(f"{r['target']} kept accepting writes {stopped or 'throughout'} s, beyond ttl {limit} s")
    rejoin = r["rejoin"]
    recloned = rejoin and rejoin["reinit"] and not r.get("rebuilds")  # a rebuilt node is always a new copy
    if rejoin and (not rejoin["streaming"] or rejoin["seconds"] > REJOIN_LIMIT or recloned):
        failures.append(f"rejoin failed: {r['rejoin']}")
    if r.get("vip_two_holders_max_s", 0) > 2.0:
        failures.append(f"two balancers held the VIP for {r['vip_two_holders_max_s']} s (limit 2 s)")
    if r.get("moves_vip") and r.get("vip_moved_after_s") is None:
        failures.append(f"the VIP did not move away from {r['target']}")
    if r.get("failed_requests") is None:
        failures.append("the publisher printed no request counts")
    elif r["failed_requests"]:
        failures.append(f"{r['failed_requests']} requests failed (the publisher gave up on them)")
    if r["drill"] == "rolling-deploy":
        if r.get("retried_requests"):
            failures.append(f"{r['retried_requests']} requests needed a retry during the deploy")
        if r.get("last_ack_time") is None or r["last_ack_time"] < r["heal_done_time"]:
            failures.append("the load ended before the deploys did: part of the deploy ran without load")
    fire_limit = r.get("alert_fire_limit_s", ALERT_FIRE_LIMIT)
    for name, alert in (r.get("alerts") or {}).items():
        if alert["fired_after_s"] is None or alert["fired_after_s"] > fire_limit:
            failures.append(f"alert {name} did not fire within {fire_limit} s of the fault: {alert}")
        elif alert["resolved_after_heal_s"] is None:
            failures.append(f"alert {name} did not resolve after the heal")
    leaders = r.get("prometheus_leaders")
    if leaders is not None:
        if leaders["most_at_once"] > 1:
            failures.append(f"Prometheus saw {leaders['most_at_once']} leaders at once")
        if len(leaders["leaders"]) != 2:
            failures.append(f"Prometheus saw leaders {leaders['leaders']}: not exactly one leader change")
    c = r["consistency"]
    if not (c["stats_invariant"] and c["unique_equals_rows"] and c["nodes_identical"]):
        failures.append(f"consistency: {c}")
    if r["acknowledged"] == 0:
        failures.append("no event was acknowledged")
    return failures


def _rounded(value):
    return None if value is None else round(value, 3)
