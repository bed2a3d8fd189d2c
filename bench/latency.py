"""Latency of single-event publishes along the whole HA path, hop by hop.

    python bench/latency.py            (make bench-latency, on a running `make lab`)

Open-loop single-event load (one event per request, each latency counted from its
scheduled send time) at fixed offered rates, --rounds times, each rate three ways
seconds apart, so each layer's cost is a difference measured in the same run:
  vip     through the front door: the VIP, HAProxy's TLS, an aggregator, the primary
          with its synchronous standby (what clients get);
  direct  the same load to one aggregator's own port, no VIP and no HAProxy;
  local   through the VIP with synchronous_commit = local (written to the running
          cluster through Patroni's dynamic configuration, and removed after): the
          commit no longer waits for the standby.
Beside the client's p50/p95/p99/max it prints, for the same seconds, HAProxy's own
timers of each of those requests, p50 and p99 (receive, queue, connect, the
aggregator's response, total: the API frontend's request ring, read with `show events`
over the admin socket of the balancer holding the VIP), and the aggregators' mean queue
wait, commit time and events per commit (their Prometheus histograms, before and after),
and where the CPU went: each service's CPU ms per event over every lab container, the
client's own, how long each service waited for a core, and how busy the host's cores
were (bench/cpu_share.py, from the host's cgroup tree).

With --flame DIR, one more run through the VIP at --flame-rate, outside the measured
ones (a sampling profiler slows what it samples), records a flame graph of every
aggregator worker with py-spy (from the host: the workers are its processes too).
"""

import argparse
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import time

# bench/ is the script's folder, so its sibling ingest.py imports as `ingest`.
from cpu_share import CpuMeter, difference
from ingest import Endpoint, fixed_rate_latencies

from drills.cluster import Cluster
from drills.polling import wait_until

INVENTORY = pathlib.Path(__file__).resolve().parents[1] / "inventory" / "lab"
WAYS = ("vip", "direct", "local")
# HAProxy's timers of one API request (the haproxy role's log-format for its request
# ring): receive, queue, connect, the aggregator's response, total (ms; -1: none).
HAPROXY_TIMERS = ("receive", "queue", "connect", "response", "total")
HAPROXY_RING = "api_requests"
REQUEST_LINE = re.compile(r"^(?P<at>\d+\.\d+) \d+ (?P<timers>-?\d+(?:/-?\d+){4}) ")
# The aggregators' histograms (app/aggregator/metrics.py) read before and after a run.
COMMIT = "aggregator_commit_seconds"
BATCH = "aggregator_batch_events"
QUEUE_WAIT = "aggregator_queue_wait_seconds"


def haproxy_timers(cluster, since, until):
    """{timer: (p50, p99)} ms of the API requests the VIP's balancer accepted between
    two times (its request ring; a timer a request never reached is left out)."""
    balancer = cluster.vip_holders()[0]
    out = cluster.exec(balancer, "haproxy-admin", f"show events {HAPROXY_RING}", timeout=60).stdout
    samples = {timer: [] for timer in HAPROXY_TIMERS}
    for line in out.splitlines():
        found = REQUEST_LINE.match(line.strip())
        if found and since <= float(found["at"]) <= until:
            for timer, value in zip(HAPROXY_TIMERS, found["timers"].split("/"), strict=True):
                if int(value) >= 0:
                    samples[timer].append(int(value))
    return {timer: percentiles(values) for timer, values in samples.items()}


def percentiles(values):
    """(p50, p99) of a list (None: empty)."""
    if len(values) < 2:
        return None
    cuts = statistics.quantiles(values, n=100)
    return cuts[49], cuts[98]


def histogram_totals(cluster):
    """{name_sum / name_count: value} summed over every aggregator's /metrics."""
    totals = {}
    token = cluster.api_token("metrics")
    for host in cluster.aggregators:
        conn = Endpoint(cluster.api_port, cluster.tls_context(), host=cluster.balancers[host], name=host).connection(10)
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"})
        text = conn.getresponse().read().decode()
        conn.close()
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name.removesuffix("_sum").removesuffix("_count") in (COMMIT, BATCH, QUEUE_WAIT):
                totals[name] = totals.get(name, 0.0) + float(value)
    return totals


def worker_pids(cluster, host):
    """Host PIDs of the gunicorn workers in an aggregator's container (not its master)."""
    rows = cluster.docker("top", host, "-eo", "pid,ppid,args").stdout.splitlines()[1:]
    gunicorn = {
        int(pid): int(ppid) for pid, ppid, *args in (row.split() for row in rows) if "gunicorn" in " ".join(args)
    }
    return sorted(pid for pid, ppid in gunicorn.items() if ppid in gunicorn)


def record_flames(cluster, endpoint, rate, seconds, folder):
    """py-spy on every aggregator worker while the VIP takes `rate` events/s."""
    if shutil.which("py-spy") is None:
        sys.exit("--flame needs py-spy on the PATH (make bench-latency installs it)")
    folder.mkdir(parents=True, exist_ok=True)
    spies = [
        subprocess.Popen(
            [
                "py-spy",
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(seconds),
                "--rate",
                "100",
                "--output",
                str(folder / f"{host}-worker-{pid}.svg"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for host in cluster.aggregators
        for pid in worker_pids(cluster, host)
    ]
    quantiles, achieved, failed = fixed_rate_latencies(endpoint, rate, seconds, connections=64)
    for spy in spies:
        if spy.wait(timeout=60) != 0:
            raise RuntimeError(f"py-spy failed: {spy.stderr.read()[-500:]}")
    print(
        f"flame graphs of {len(spies)} workers in {folder} ({achieved:.0f}/s achieved while profiled, "
        f"p99 {quantiles[0.99]:.1f} ms, {failed} non-2xx)"
    )


def set_synchronous_commit(cluster, value):
    """synchronous_commit in Patroni's dynamic configuration (None removes it); returns
    once the primary runs it."""
    body = {"postgresql": {"parameters": {"synchronous_commit": value}}}
    cluster.patch_config(body)
    wanted = value or "on"

    if not wait_until(lambda: cluster.leader_sql("SHOW synchronous_commit")[0][0] == wanted, 60):
        raise RuntimeError(f"the primary did not run synchronous_commit={wanted} within 60 s")


def endpoints(cluster):
    front = Endpoint(cluster.api_port, cluster.tls_context(), host=cluster.vip, token=cluster.api_token("write"))
    first = cluster.aggregators[0]
    direct = Endpoint(
        cluster.api_port, cluster.tls_context(), host=cluster.balancers[first], token=front.token, name=first
    )
    return {"vip": front, "direct": direct, "local": front}


def lab_containers(cluster):
    return sorted({*cluster.nodes, *cluster.balancers, *cluster.aggregators, *cluster.monitoring})


def cpu_per_event(used, waited, client_seconds, events, wall):
    """{("ms", service): CPU ms per event} summed over the containers running it and for
    the client (this process); {("wait", service): % of the run some task of the service
    waited for a core} (its busiest container); ("host", "busy"): % of the cores busy."""
    figures = {("ms", "client"): 1000 * client_seconds / events}
    for (container, unit), seconds in used.items():
        if container != "host":
            figures[("ms", unit)] = figures.get(("ms", unit), 0.0) + 1000 * seconds / events
    for (_, unit), seconds in waited.items():
        figures[("wait", unit)] = max(figures.get(("wait", unit), 0.0), 100 * seconds / wall)
    figures[("host", "busy")] = 100 * used[("host", "busy")] / (wall * os.cpu_count())
    return figures


def measure(cluster, meter, endpoint, rate, seconds, through_haproxy):
    before = histogram_totals(cluster)
    (used_before, waited_before), client_before = meter.read(), time.process_time()
    started = time.time()
    quantiles, achieved, failed = fixed_rate_latencies(endpoint, rate, seconds, connections=64)
    ended = time.time()
    client = time.process_time() - client_before
    used_after, waited_after = meter.read()
    used, waited = difference(used_before, used_after), difference(waited_before, waited_after)
    timers = haproxy_timers(cluster, started, ended) if through_haproxy else dict.fromkeys(HAPROXY_TIMERS)
    after = histogram_totals(cluster)
    commits = after[f"{COMMIT}_count"] - before[f"{COMMIT}_count"]
    return {
        **{f"p{int(q * 100)}": ms for q, ms in quantiles.items()},
        "achieved": achieved,
        "failed": failed,
        **{f"haproxy_{timer}": ms for timer, ms in timers.items()},
        "commit_ms": mean_ms(before, after, COMMIT),
        "events_per_commit": (after[f"{BATCH}_sum"] - before[f"{BATCH}_sum"]) / commits if commits else None,
        "queue_wait_ms": mean_ms(before, after, QUEUE_WAIT),
        "cpu": cpu_per_event(used, waited, client, achieved * (ended - started), ended - started),
    }


def median(values):
    """The median of numbers, or element-wise of (p50, p99) pairs."""
    if isinstance(values[0], tuple):
        return tuple(statistics.median(column) for column in zip(*values, strict=True))
    return statistics.median(values)


def mean_ms(before, after, histogram):
    """The mean of a histogram's observations between two readings, in ms (None: none)."""
    count = after.get(f"{histogram}_count", 0.0) - before.get(f"{histogram}_count", 0.0)
    return 1000 * (after[f"{histogram}_sum"] - before[f"{histogram}_sum"]) / count if count else None


def show_cpu(cpu, largest=8):
    """The services that cost the most CPU per event, how long the busiest waited for a
    core, and the host's busy share."""
    costs = sorted(((v, unit) for (kind, unit), v in cpu.items() if kind == "ms"), reverse=True)
    listed = "  ".join(f"{unit} {ms:.3f}" for ms, unit in costs[:largest])
    waits = "  ".join(f"{unit} {cpu[('wait', unit)]:.0f} %" for _, unit in costs[:largest] if ("wait", unit) in cpu)
    total = sum(ms for ms, _ in costs)
    return (
        f"CPU ms/event {total:.2f}: {listed}\n      waited for a core: {waits}"
        f"  (host busy {cpu[('host', 'busy')]:.0f} % of {os.cpu_count()} cores)"
    )


def show(rate, way, r):
    haproxy = "  ".join(
        f"{t} " + ("-" if r[f"haproxy_{t}"] is None else "{:.0f}/{:.0f}".format(*r[f"haproxy_{t}"]))
        for t in HAPROXY_TIMERS
    )
    commit = f"{r['commit_ms']:.2f} ms x {r['events_per_commit']:.1f} events" if r["commit_ms"] is not None else "-"
    queue = "-" if r["queue_wait_ms"] is None else f"{r['queue_wait_ms']:.2f} ms"
    return (
        f"{rate:5} /s {way:6} achieved {r['achieved']:6.0f}/s  p50 {r['p50']:6.1f}  p95 {r['p95']:6.1f}  "
        f"p99 {r['p99']:6.1f}  max {r['p100']:6.1f} ms  non-2xx {r['failed']}  "
        f"HAProxy p50/p99 {haproxy} ms  aggregator queue wait {queue}  commit {commit}\n"
        f"      {show_cpu(r['cpu'])}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", default=str(INVENTORY))
    parser.add_argument("--rates", default="500,1000,2000", help="offered events/s, comma-separated")
    parser.add_argument("--seconds", type=int, default=20, help="seconds of load per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--flame", type=pathlib.Path, help="folder for py-spy flame graphs of the aggregators")
    parser.add_argument("--flame-rate", type=int, default=1000, help="offered events/s while profiling")
    args = parser.parse_args(argv)
    cluster = Cluster.from_inventory(args.inventory)
    if not cluster.vip or not cluster.aggregators:
        sys.exit("bench/latency.py needs pgha_vip and an aggregator (make lab)")
    ways = endpoints(cluster)
    meter = CpuMeter(cluster, lab_containers(cluster))
    rates = [int(r) for r in args.rates.split(",")]
    figures = {(rate, way): [] for rate in rates for way in WAYS}
    print(f"front door {ways['vip'].host}:{ways['vip'].port}, direct {ways['direct'].name}, {args.seconds} s each")
    for number in range(1, args.rounds + 1):
        for rate in rates:
            for way in WAYS:
                if way == "local":
                    set_synchronous_commit(cluster, "local")
                try:
                    result = measure(cluster, meter, ways[way], rate, args.seconds, through_haproxy=way != "direct")
                finally:
                    if way == "local":
                        set_synchronous_commit(cluster, None)
                figures[(rate, way)].append(result)
                print(f"round {number} {show(rate, way, result)}", flush=True)
                time.sleep(2)
    print(f"medians of {args.rounds} rounds (ms; HAProxy's timers: p50/p99 of the run's requests):")
    for (rate, way), results in figures.items():
        keys = [k for k in results[0] if results[0][k] is not None and k != "cpu"]
        merged = {k: median([r[k] for r in results if r[k] is not None]) for k in keys}
        merged.update({k: None for k in results[0] if k not in keys and k != "cpu"})
        merged["cpu"] = {unit: median([r["cpu"].get(unit, 0.0) for r in results]) for unit in results[0]["cpu"]}
        print("  " + show(rate, way, merged))
    for rate in rates:
        p50 = {way: statistics.median(r["p50"] for r in figures[(rate, way)]) for way in WAYS}
        p99 = {way: statistics.median(r["p99"] for r in figures[(rate, way)]) for way in WAYS}
        print(
            f"  at {rate}/s: the VIP and HAProxy add {p50['vip'] - p50['direct']:+.1f} ms at p50 "
            f"({p99['vip'] - p99['direct']:+.1f} at p99); the synchronous standby adds "
            f"{p50['vip'] - p50['local']:+.1f} ms at p50 ({p99['vip'] - p99['local']:+.1f} at p99)"
        )
    if args.flame:
        record_flames(cluster, ways["vip"], args.flame_rate, args.seconds, args.flame)
    return 0


if __name__ == "__main__":
    sys.exit(main())
