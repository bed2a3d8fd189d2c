"""What each durability mode costs a commit, measured seconds apart on one cluster.

    python bench/durability.py            (make bench-durability, on a running `make lab`)

For each mode of pgha_durability (async, sync, strict, quorum), in turn for --rounds
rounds: Patroni's synchronous settings as the role maps that mode (read through the
inventory, so nothing here restates the mapping), written to the running cluster with
PATCH /config; once the primary runs them (and, but in async, a standby confirms
synchronously), --commits single-row INSERT commits on the primary from one session,
each timed. Prints p50/p95/p99 per mode and the ratio of each to async's. The cluster's
own settings are written back at the end, whatever happened.
"""

import argparse
import pathlib
import statistics
import sys
import time

from drills.cluster import Cluster
from drills.polling import wait_until
from drills.presets import DURABILITY_MODES, as_patroni_writes

INVENTORY = pathlib.Path(__file__).resolve().parents[1] / "inventory" / "lab"
TABLE = "pgha_bench_commit"
SYNCHRONOUS_KEYS = ("synchronous_mode", "synchronous_mode_strict")
# pg_stat_replication's sync_state of a standby a commit waits for.
CONFIRMING = ("sync", "quorum")


def mode_settings(inventory, mode):
    """Patroni's synchronous settings for `mode`, from the role defaults via the inventory."""
    cluster = Cluster.from_inventory(inventory, {"pgha_durability": mode})
    return {key: as_patroni_writes(cluster.setting(f"patroni_{key}")) for key in SYNCHRONOUS_KEYS}


def primary_runs(cluster, settings):
    """Whether the primary's synchronous_standby_names, and a confirming standby, match `settings`."""
    leader = cluster.leader()
    if leader is None:
        return False
    names, confirming = cluster.leader_sql(
        "SELECT current_setting('synchronous_standby_names'),"
        " (SELECT count(*) FROM pg_stat_replication WHERE sync_state = ANY(%s))",
        (list(CONFIRMING),),
    )[0]
    if settings["synchronous_mode"] is False:
        return names == ""
    quorum = names.upper().startswith("ANY")
    return bool(names) and confirming > 0 and quorum == (settings["synchronous_mode"] == "quorum")


def apply(cluster, settings):
    cluster.patch_config(settings)
    if not wait_until(lambda: primary_runs(cluster, settings), 60):
        raise RuntimeError(f"the primary did not run {settings} within 60 s")


def commit_latencies(cluster, commits):
    """Seconds per single-row INSERT commit on the primary, one session."""
    conn = cluster.connect(cluster.nodes[cluster.leader()], dbname="postgres")
    try:
        conn.autocommit = True
        seconds = []
        with conn.cursor() as cur:
            for _ in range(commits):
                started = time.perf_counter()
                cur.execute(f"INSERT INTO {TABLE} (payload) VALUES ('x')")
                seconds.append(time.perf_counter() - started)
        return seconds
    finally:
        conn.close()


def percentiles(seconds):
    ordered = sorted(seconds)
    pick = lambda share: ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000  # noqa: E731
    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", default=str(INVENTORY))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--commits", type=int, default=2000)
    args = parser.parse_args(argv)
    cluster = Cluster.from_inventory(args.inventory)
    own = {key: cluster.dynamic_config().get(key, False) for key in SYNCHRONOUS_KEYS}
    modes = {mode: mode_settings(args.inventory, mode) for mode in DURABILITY_MODES}
    cluster.leader_sql(f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, payload text)")
    figures = {mode: [] for mode in modes}
    try:
        for round_number in range(1, args.rounds + 1):
            for mode, settings in modes.items():
                apply(cluster, settings)
                figures[mode].append(percentiles(commit_latencies(cluster, args.commits)))
                shown = ", ".join(f"{k} {v:.2f} ms" for k, v in figures[mode][-1].items())
                print(f"round {round_number} {mode} {settings}: {shown}", flush=True)
    finally:
        apply(cluster, own)
        cluster.leader_sql(f"DROP TABLE IF EXISTS {TABLE}")
    print(f"commit latency, median of {args.rounds} rounds of {args.commits} commits (one session, on the primary):")
    base = statistics.median(r["p50"] for r in figures["async"])
    for mode, rounds in figures.items():
        medians = {k: statistics.median(r[k] for r in rounds) for k in ("p50", "p95", "p99")}
        shown = ", ".join(f"{k} {v:.2f} ms" for k, v in medians.items())
        print(f"  {mode:7} {shown}; p50 {medians['p50'] / base:.2f}x async's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
