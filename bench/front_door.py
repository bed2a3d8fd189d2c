"""Throughput through the lab's front door: the VIP, HAProxy and every aggregator.

    python bench/front_door.py            (make bench-front-door, on a running `make lab`)

Measures in the same run, alternating for --rounds rounds:
  1. batched publish (500 events per request, 8 clients) through the VIP;
  2. single-event publish (one event per request, wrk) through the VIP;
each with every aggregator in HAProxy's API backend, then with one (the others put in
maintenance on every balancer, and back after), and prints the two-to-one ratio.
Then the reference design's publisher run through the VIP: 20,000 events, 30 %
duplicates, stats checked, against the reference's 168 events/s.

With --app-cpus N every aggregator's container (its HAProxy and keepalived too) may use
at most N cores for the run (`docker update --cpus`, lifted after): on this host every
container shares the same two cores, so a second aggregator only adds capacity when each
node's share is bounded, as separate hosts' would be.
"""

import argparse
import contextlib
import os
import pathlib
import subprocess
import sys
import uuid
from statistics import median

import orjson

# bench/ is the script's folder, so its sibling ingest.py imports as `ingest`.
from ingest import REFERENCE_EVENTS_PER_SECOND, Endpoint, make_events, post_bodies, wrk_single

from drills.cluster import Cluster
from drills.polling import wait_until

HERE = pathlib.Path(__file__).resolve().parent


def set_servers(cluster, servers, state):
    """Every balancer's HAProxy puts `servers` in `state` (maint or ready)."""
    for balancer in cluster.balancers:
        for server in servers:
            cluster.exec(balancer, "haproxy-admin", f"set server aggregators/{server} state {state}")


@contextlib.contextmanager
def only(cluster, kept):
    """The API backend with `kept` alone; every aggregator back (and UP) afterwards."""
    others = [name for name in cluster.aggregators if name != kept]
    set_servers(cluster, others, "maint")
    try:
        yield
    finally:
        set_servers(cluster, others, "ready")
        if not wait_until(lambda: cluster.front_door_whole(), 60):
            raise RuntimeError(
                f"the aggregators did not all come back: {cluster.api_servers(cluster.vip_holders()[0])}"
            )


@contextlib.contextmanager
def cpu_limits(cluster, containers, cpus):
    """Each of `containers` bounded to `cpus` cores (None: unbounded) until the end."""
    if cpus is None:
        yield
        return
    for name in containers:
        cluster.docker("update", "--cpus", str(cpus), name)
    try:
        yield
    finally:
        # `docker update --cpus 0` leaves a limit in place: every core of the host is
        # the same as none.
        for name in containers:
            cluster.docker("update", "--cpus", str(os.cpu_count()), name)


def measure(endpoint, events, seconds):
    bodies = [orjson.dumps(events[i : i + 500]) for i in range(0, len(events), 500)]
    elapsed, failures = post_bodies(endpoint, bodies, 8)
    rps, non2xx, p99 = wrk_single(endpoint, seconds, 64)
    return {
        "batched": len(events) / elapsed,
        "batched_failed": len(failures),
        "single": rps,
        "single_non2xx": non2xx,
        "single_p99": p99,
    }


def reference_run(cluster):
    """The reference design's publisher run (20,000 events, 30 % duplicates) through the VIP."""
    env = dict(
        os.environ,
        AGGREGATOR_PUBLISH_TOKEN=cluster.api_token("write"),
        AGGREGATOR_READ_TOKEN=cluster.api_token("read"),
        AGGREGATOR_CA_FILE=cluster.ca_file,
    )
    command = [sys.executable, "-m", "aggregator.publisher", "--url", cluster.api_url, "--events", "20000"]
    return subprocess.run(command, capture_output=True, text=True, env=env).stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", default=str(HERE.parent / "inventory" / "lab"))
    parser.add_argument("--events", type=int, default=100_000, help="events per batched run")
    parser.add_argument("--seconds", type=int, default=10, help="duration of each single-event run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating two / one aggregator rounds")
    parser.add_argument("--app-cpus", type=float, help="cores each aggregator's container may use (lab only)")
    parser.add_argument("--no-reference-run", action="store_true", help="skip the reference design's publisher run")
    args = parser.parse_args()

    cluster = Cluster.from_inventory(args.inventory)
    if not cluster.vip or len(cluster.aggregators) < 2:
        sys.exit("bench/front_door.py needs pgha_vip and two aggregators (make lab)")
    endpoint = Endpoint(cluster.api_port, cluster.tls_context(), host=cluster.vip, token=cluster.api_token("write"))
    print(f"front door {endpoint.url}: aggregators {', '.join(cluster.aggregators)}; VIP on {cluster.vip_holders()}")
    if args.app_cpus is not None:
        if not cluster.lab:
            sys.exit("--app-cpus bounds the lab's containers: it needs `make lab`")
        print(f"each aggregator's container bounded to {args.app_cpus} cores for the run")
    with cpu_limits(cluster, cluster.aggregators, args.app_cpus):
        figures = rounds(cluster, endpoint, args)
    for kind in ("batched", "single"):
        two, one = median(r[kind] for r in figures["all"]), median(r[kind] for r in figures["one"])
        count = len(cluster.aggregators)
        print(f"{kind} publish median: {two:,.0f} events/s with {count} aggregators, {one:,.0f} with one")
        print(f"{kind} publish ratio, {count} aggregators to one: {two / one:.2f}")
    if args.no_reference_run:
        return 0
    out = reference_run(cluster)
    print("reference run (20,000 events, 30 % duplicates) through the VIP:")
    print("\n".join("  " + line for line in out.splitlines()))
    rate = next((float(line.split()[1]) for line in out.splitlines() if line.startswith("throughput:")), 0.0)
    ratio = rate / REFERENCE_EVENTS_PER_SECOND
    print(f"reference run: {rate:,.0f} events/s, {ratio:.1f}x the reference's {REFERENCE_EVENTS_PER_SECOND} events/s")
    return 0 if "result: OK" in out else 1


def rounds(cluster, endpoint, args):
    """Two-aggregator and one-aggregator measurements, alternating."""
    figures = {"all": [], "one": []}
    for number in range(1, args.rounds + 1):
        for label in ("all", "one"):
            events = make_events(args.events, f"vip-{label}-{uuid.uuid4().hex[:6]}")
            with only(cluster, cluster.aggregators[0]) if label == "one" else contextlib.nullcontext():
                result = measure(endpoint, events, args.seconds)
            figures[label].append(result)
            print(
                f"round {number} {label:>3} aggregators: batched {result['batched']:,.0f} events/s "
                f"({result['batched_failed']} failed requests), single {result['single']:,.0f} events/s "
                f"({result['single_non2xx']} non-2xx, p99 {result['single_p99']})",
                flush=True,
            )
    return figures


if __name__ == "__main__":
    sys.exit(main())
