"""Run one drill: load, fault, heal, settle, check, report."""

import datetime
import json
import os
import pathlib
import re
import subprocess
import sys
import time
import urllib.request
import uuid

from . import analysis
from .cluster import CommandFailed
from .faults import ALERT_FIRE_LIMIT, CATALOGUE
from .monitoring import AlertWatch, Monitoring
from .polling import wait_until as wait
from .sampler import Sampler

WARMUP = 5  # seconds of load before the fault
COOLDOWN = 10  # seconds an open-ended load goes on after the cluster settled
REJOIN_LIMIT = 60  # a lost node must stream again within this many seconds of returning
EFFECT_TIMEOUT = 15  # seconds a fault without a hold has to show its effect
ALERT_RESOLVE_LIMIT = 60  # seconds after the cluster settled within which its alerts resolve
# What a failed inject or heal raises: a command's exit code, a refused REST call, a hung exec.
FAULT_ERRORS = (CommandFailed, RuntimeError, OSError, subprocess.TimeoutExpired)


class Drill:
    def __init__(self, cluster, name, rate=200, settle_timeout=120, report_dir=None, log=print):
        if name not in CATALOGUE:
            raise ValueError(f"unknown drill {name!r}; choose from {', '.join(CATALOGUE)}")
        self.cluster, self.fault, self.rate = cluster, CATALOGUE[name](), rate
        self.settle_timeout, self.report_dir, self.log = settle_timeout, report_dir, log
        self.run_id = f"drill-{name}-{uuid.uuid4().hex[:8]}"

    def run(self):
        cluster, fault = self.cluster, self.fault
        require_whole(cluster)
        members = cluster.members()
        leader = next(m["name"] for m in members if m["role"] == "leader")
        sync = next((m["name"] for m in members if m["role"] == "sync_standby"), None)
        target = fault.target(cluster, leader, sync)
        stats_before = get_json(cluster, "/stats")
        self.log(f"[{fault.name}] leader {leader}, sync standby {sync}, target {target}")

        ack_log = f"/tmp/{self.run_id}.acks"
        hold = fault.hold_for(cluster)
        duration = WARMUP + fault.load_seconds(cluster)
        sampler = Sampler(cluster)
        sampler.start()
        monitoring = Monitoring.of(cluster)
        watch = AlertWatch(monitoring).start() if monitoring and fault.alerts else None
        if watch:  # an alert still active from before would not be this fault's
            wait(lambda: watch.quiet(fault.alerts), ALERT_RESOLVE_LIMIT)
        stop_file = f"/tmp/{self.run_id}.stop"
        load = start_load(self.cluster, self.rate, ack_log, duration, self.run_id, stop_file)
        time.sleep(WARMUP)

        fault_errors = []
        writes_stop_limit = fault.writes_stop_limit(cluster)
        fault_time = time.time()
        effect = None
        try:
            before = fault.before(cluster, target)
            fault.inject(cluster, target, before)
        except FAULT_ERRORS as exc:
            fault_errors.append(f"inject on {target} failed: {exc}")
            time.sleep(hold)
        else:
            self.log(f"[{fault.name}] fault injected on {target}")
            effect = observe_effect(fault, cluster, target, before, hold)
            self.log(f"[{fault.name}] observed: {effect or 'NO EFFECT'}")
            if watch:  # the fault lasts until its alerts fire (or the limit passes)
                wait(lambda: watch.fired(fault.alerts, fault_time), ALERT_FIRE_LIMIT - (time.time() - fault_time))
        heal_time = time.time()
        try:
            fault.heal(cluster, target)
        except FAULT_ERRORS as exc:
            fault_errors.append(f"heal of {target} failed: {exc}")
        self.log(f"[{fault.name}] healed after {heal_time - fault_time:.1f} s")

        heal_done = time.time()
        rejoin = self._wait_rejoin(target, heal_time, fault_time) if fault.loses_node else None
        settled = wait(lambda: cluster.healthy() and front_door_whole(cluster), self.settle_timeout)
        settle_time = time.time()
        self.log(
            f"[{fault.name}] cluster {'settled' if settled else 'NOT settled'} after {settle_time - heal_time:.1f} s"
        )
        if watch:
            wait(lambda: watch.resolved(fault.alerts, fault_time), ALERT_RESOLVE_LIMIT)
            watch.stop()
        if fault.load_until_settled:
            time.sleep(COOLDOWN)
            pathlib.Path(stop_file).touch()
        load_out = finish(load, timeout=duration + 120)
        sampler.stop()
        end_time = time.time()
        prometheus_leaders = (
            monitoring.leaders_between(fault_time - 10, settle_time)
            if monitoring and fault.leader_change_in_prometheus
            else None
        )

        acks = read_acks(ack_log)
        ack_times = [t for _, _, t in acks]
        new_leader_after, new_leader = analysis.time_to_new_leader(sampler.samples, fault_time, leader)
        split = analysis.split_brain_samples(sampler.samples)
        missing = missing_on_leader(cluster, acks)
        self.log(f"[{fault.name}] new leader {new_leader} after {new_leader_after} s")
        consistency = check_consistency(cluster, stats_before)
        leader_after = cluster.leader()
        overlaps = analysis.vip_overlaps(sampler.samples)
        vip_before = analysis.vip_holders(next((x for x in reversed(sampler.samples) if x["t"] < fault_time), {}))
        result = {
            "drill": fault.name,
            "run_id": self.run_id,
            "leader_before": leader,
            "target": target,
            "expect_failover": fault.expect_failover,
            "fault_effect": effect,
            "fault_errors": fault_errors,
            "leader_after": leader_after,
            "fault_time": fault_time,
            "heal_time": heal_time,
            "settle_time": settle_time,
            "settled": settled,
            "offered_rate": self.rate,
            "acknowledged": len(acks),
            "write_downtime_s": round(analysis.longest_ack_gap(ack_times, fault_time - 1, settle_time), 3),
            "time_to_new_leader_s": _rounded(new_leader_after),
            "new_leader": new_leader,
            "failover": leader_after != leader,
            "acknowledged_lost": len(missing),
            "lost_examples": missing[:10],
            "split_brain_samples": len(split),
            "split_brain_examples": split[:5],
            "samples": len(sampler.samples),
            "longest_sampling_gap_s": round(analysis.longest_sampling_gap(sampler.samples), 3),
            "stale_samples": analysis.stale_samples(sampler.samples),
            "rejoin": rejoin,
            "writes_stop_limit_s": writes_stop_limit,
            "writes_stopped_after_s": _rounded(analysis.writes_stopped_after(sampler.samples, fault_time, target)),
            "consistency": consistency,
            "vip_holder_before": ",".join(vip_before) or None,
            "vip_holder_after": ",".join(analysis.vip_holders(sampler.samples[-1])) if sampler.samples else None,
            "vip_moved_after_s": (
                _rounded(analysis.vip_moved_after(sampler.samples, fault_time, target)) if fault.moves_vip else None
            ),
            "vip_two_holders_samples": sum(1 for x in sampler.samples if len(analysis.vip_holders(x)) > 1),
            "vip_two_holders_max_s": round(max((b - a for a, b in overlaps), default=0.0), 3),
            "moves_vip": fault.moves_vip,
            "heal_done_time": heal_done,
            "alerts": watch.summary(fault.alerts, fault_time, heal_time) if watch else None,
            "alert_poll_errors": watch.errors if watch else 0,
            "prometheus_leaders": prometheus_leaders,
            "last_ack_time": max(ack_times, default=None),
            **publisher_counts(load_out),
            "publisher": load_out[-1500:],
        }
        result["failures"] = verdict(result)
        result["passed"] = not result["failures"]
        from .report import write_report

        result["report"] = write_report(result, sampler.samples, ack_times, end_time, self.report_dir)
        return result

    def _wait_rejoin(self, node, since, fault_time):
        """Seconds from `since` until `node` streams again, and whether it was re-cloned
        (Patroni logs a basebackup or reinitialize when it does)."""
        streaming = wait(lambda: self._streams_again(node, fault_time), REJOIN_LIMIT + 30)
        seconds = time.time() - since
        log = self.cluster.exec(
            node, "journalctl", "-u", "patroni", "--since", f"@{int(fault_time)}", "--no-pager", check=False
        ).stdout
        reinit = any(word in log for word in ("basebackup", "reinitializ", "bootstrap from"))
        return {"node": node, "streaming": streaming, "seconds": round(seconds, 1), "reinit": reinit}

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


def require_whole(cluster, timeout=60):
    """Wait for one leader with every other member streaming, and (with a VIP) one VIP
    holder balancing every aggregator; a drill never starts on less."""
    if not wait(lambda: cluster.healthy() and front_door_whole(cluster), timeout):
        problems = cluster.problems() + ([] if front_door_whole(cluster) else ["the front door is not whole"])
        raise RuntimeError(f"the cluster is not whole before the drill: {'; '.join(problems)}")


def front_door_whole(cluster):
    """Without a VIP: nothing to check. With one: exactly one balancer holds it and its
    HAProxy sends requests to every aggregator."""
    if not cluster.vip:
        return True
    holders = cluster.vip_holders()
    if len(holders) != 1:
        return False
    servers = cluster.api_servers(holders[0])
    return sorted(servers) == sorted(cluster.aggregators) and all(v.startswith("UP") for v in servers.values())


def publisher_counts(output):
    """The publisher's own count of retried and failed requests (None when it printed none)."""
    found = re.search(r"retried requests: (\d+), failed requests: (\d+)", output)
    retried, failed = (int(found.group(1)), int(found.group(2))) if found else (None, None)
    return {"retried_requests": retried, "failed_requests": failed}


def start_load(cluster, rate, ack_log, duration, run_id, stop_file=None):
    """The publisher at `rate` events/s for `duration` s (or until `stop_file` exists),
    logging each acknowledged event."""
    events = int(rate * duration)
    cmd = [
        sys.executable, "-m", "aggregator.publisher", "--url", cluster.api_url, "--events", str(events),
        "--rate", str(rate), "--batch-size", "5", "--concurrency", "8", "--duplicate-rate", "0",
        "--topics", "1", "--retries", "40", "--timeout", "45", "--ack-log", ack_log, "--run-id", run_id,
        "--no-verify", *(["--stop-file", stop_file] if stop_file else []),
    ]  # fmt: skip
    # The token goes through the environment, not the command line (ps shows that).
    token, ca = cluster.api_token("write"), cluster.ca_file
    env = dict(os.environ, AGGREGATOR_PUBLISH_TOKEN=token, AGGREGATOR_CA_FILE=ca)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def check_consistency(cluster, stats_before):
    """/stats invariant, unique_processed == rows, and identical rows on every node."""
    stats = get_json(cluster, "/stats")
    conn = cluster.connect(cluster.nodes[cluster.leader()])
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM events")
        rows = cur.fetchone()[0]
    conn.close()
    digest_sql = "SELECT count(*), md5(string_agg(topic || '/' || event_id, ',' ORDER BY topic, event_id)) FROM events"

    def digests():
        found = {}
        for name, address in cluster.nodes.items():
            try:
                c = cluster.connect(address)
                with c, c.cursor() as cur:
                    cur.execute(digest_sql)
                    found[name] = list(cur.fetchone())
                c.close()
            except Exception as exc:  # a node that is down reports why
                found[name] = [None, str(exc)[:80]]
        return found

    last = {}

    def identical():
        last.update(digests())
        return len({tuple(v) for v in last.values()}) == 1

    same = wait(identical, 15)
    return {
        "received": stats["received"],
        "unique_processed": stats["unique_processed"],
        "duplicate_dropped": stats["duplicate_dropped"],
        "rows": rows,
        "stats_invariant": stats["received"] == stats["unique_processed"] + stats["duplicate_dropped"],
        "unique_equals_rows": stats["unique_processed"] == rows,
        "nodes_identical": same,
        "node_digests": last,
        "duplicates_during_drill": stats["duplicate_dropped"] - stats_before["duplicate_dropped"],
    }


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


def missing_on_leader(cluster, acks):
    """missing_acks, asked of the current leader."""
    conn = cluster.connect(cluster.nodes[cluster.leader()])
    try:
        return missing_acks(conn, acks)
    finally:
        conn.close()


def missing_acks(conn, acks):
    """Acknowledged (topic, event_id, ack time) entries absent from the events table."""
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE acked (topic text, event_id text) ON COMMIT DROP")
        cur.executemany("INSERT INTO acked VALUES (%s, %s)", [(t, e) for t, e, _ in acks])
        cur.execute(
            "SELECT a.topic, a.event_id FROM acked a LEFT JOIN events e USING (topic, event_id) "
            "WHERE e.event_id IS NULL ORDER BY 2"
        )
        return [f"{t}/{e}" for t, e in cur.fetchall()]


def verdict(r):
    """The drill's failures (empty: passed), from its result alone."""
    failures = list(r["fault_errors"])
    if not r["fault_effect"]:
        failures.append(f"the fault had no observed effect on {r['target']}")
    if r["expect_failover"] is True and r["new_leader"] is None:
        failures.append("no new leader appeared after a fault that must cause a failover")
    elif r["expect_failover"] is True and r["time_to_new_leader_s"] > r["heal_time"] - r["fault_time"]:
        # The old leader back on a new timeline after the heal is no failover.
        failures.append(
            f"nobody took over while {r['target']} was down: a leader appeared "
            f"{r['time_to_new_leader_s']:.1f} s after the fault, "
            f"the heal came at {r['heal_time'] - r['fault_time']:.1f} s"
        )
    if r["expect_failover"] is False and r["failover"]:
        failures.append("unexpected failover")
    if not r["settled"]:
        failures.append("cluster did not settle (one leader, all others streaming, a synchronous standby)")
    if r["acknowledged_lost"]:
        failures.append(f"{r['acknowledged_lost']} acknowledged events lost")
    # A sampler that stalls could hide split brain: that alone fails the drill.
    if r["longest_sampling_gap_s"] > 2.0:
        failures.append(f"sampling stalled for {r['longest_sampling_gap_s']} s")
    if r["split_brain_samples"]:
        failures.append(f"{r['split_brain_samples']} split-brain samples")
    limit, stopped = r.get("writes_stop_limit_s"), r.get("writes_stopped_after_s")
    if limit is not None and (stopped is None or stopped > limit):
        failures.append(f"{r['target']} kept accepting writes {stopped or 'throughout'} s, beyond ttl {limit} s")
    if r["rejoin"] and (not r["rejoin"]["streaming"] or r["rejoin"]["seconds"] > REJOIN_LIMIT or r["rejoin"]["reinit"]):
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
    for name, alert in (r.get("alerts") or {}).items():
        if alert["fired_after_s"] is None or alert["fired_after_s"] > ALERT_FIRE_LIMIT:
            failures.append(f"alert {name} did not fire within {ALERT_FIRE_LIMIT} s of the fault: {alert}")
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


def get_json(cluster, path):
    """A read-scoped GET on the aggregator API, verified against the deployment's CA."""
    headers = {"Authorization": f"Bearer {cluster.api_token('read')}"}
    request = urllib.request.Request(cluster.api_url + path, headers=headers)
    with urllib.request.urlopen(request, timeout=30, context=cluster.tls_context()) as response:
        return json.load(response)


def finish(process, timeout):
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return out or ""


def read_acks(path):
    acks = []
    try:
        with open(path) as f:
            for line in f:
                topic, event_id, t = line.rstrip("\n").split("\t")
                acks.append((topic, event_id, float(t)))
    except FileNotFoundError:
        pass
    return acks
