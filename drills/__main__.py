"""python -m drills <name ...|all|day2|matrix> [--runs N] [--sync-off] [--preset P]
[--durability D]: drills under live ingest. matrix: the failover drills of MATRIX_DRILLS
under each failover preset, standby-loss under each durability mode."""

import argparse
import json
import pathlib
import signal
import statistics
import sys

from .catalogue import CATALOGUE, DAY2
from .cluster import Cluster
from .faults import FAILOVER
from .major_upgrade import MajorUpgrade, MajorUpgradeRollback
from .patroni import PATRONI_CLUSTER
from .polling import wait_until as wait
from .presets import DURABILITY_MODES, MATRIX_DRILLS, PRESETS, deploy, label, matrix_plan
from .report import DEFAULT_DIR, markdown_table
from .restore import ClusterLoss, OperatorError
from .runner import Drill
from .topology import REPO

# Names that stand for several drills (drill_names expands them).
GROUPS = ("all", "day2", "matrix")
# Drills that restore the cluster from its backups (a backup group) rather than break it.
RESTORE_DRILLS = {drill.name: drill for drill in (OperatorError, ClusterLoss, MajorUpgrade, MajorUpgradeRollback)}


def set_synchronous_mode(cluster, enabled):
    cluster.patch_config({"synchronous_mode": enabled})
    wait(lambda: any(m["role"] in PATRONI_CLUSTER.SYNCHRONOUS_ROLES for m in cluster.members()) == enabled, 30)


def exit_on_sigterm():
    """SIGTERM (kill, a timeout) ends a run as Ctrl-C does: each drill's `finally` stops
    its publisher and heals its fault. Python's default would end the process at once
    and leave the publisher writing into whatever lab answers next."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def main(argv=None):
    exit_on_sigterm()
    parser = argparse.ArgumentParser(prog="python -m drills", description=__doc__)
    parser.add_argument(
        "drill",
        nargs="+",
        help=f"{', '.join([*CATALOGUE, *RESTORE_DRILLS])}; all (the failover drills), day2 ({', '.join(DAY2)}) "
        f"or matrix ({', '.join(MATRIX_DRILLS)} under each of the presets {', '.join(PRESETS)}; "
        f"standby-loss under each durability mode)",
    )
    parser.add_argument("--inventory", default=str(REPO / "inventory" / "lab"))
    parser.add_argument("--runs", type=int, default=1, help="runs per drill")
    parser.add_argument("--rate", type=float, default=200, help="offered events/s")
    parser.add_argument(
        "--sync-off", action="store_true", help="run with synchronous_mode off (loss is measured, not failed)"
    )
    parser.add_argument(
        "--preset", choices=PRESETS, help="deploy this failover preset first (the inventory's own again afterwards)"
    )
    parser.add_argument(
        "--durability",
        choices=DURABILITY_MODES,
        help="deploy this durability mode first (the inventory's own afterwards)",
    )
    parser.add_argument("--report-dir", default=str(DEFAULT_DIR))
    args = parser.parse_args(argv)
    if len(args.drill) == 1 and args.drill[0] in RESTORE_DRILLS:
        return run_restore_drill(RESTORE_DRILLS[args.drill[0]], Cluster.from_inventory(args.inventory), args)
    unknown = [n for n in args.drill if n not in {*CATALOGUE, *GROUPS}]
    if unknown:
        choices = ", ".join([*CATALOGUE, *RESTORE_DRILLS])
        parser.error(
            f"unknown drill {unknown[0]!r}; choose from {choices}, all, day2 or matrix (a restore drill runs alone)"
        )
    if "matrix" in args.drill and (len(args.drill) > 1 or args.preset or args.durability):
        parser.error(
            "matrix runs alone and deploys every preset and mode itself (no other drill, --preset or --durability)"
        )

    asked = {"pgha_failover_preset": args.preset, "pgha_durability": args.durability}
    asked = {name: value for name, value in asked.items() if value}
    plan = (
        [(extra_vars, list(names)) for extra_vars, names in matrix_plan()]
        if "matrix" in args.drill
        else [(asked, args.drill)]
    )
    deployed = any(extra_vars for extra_vars, _ in plan)
    results = []
    try:
        for extra_vars, given in plan:
            cluster = deploy(args.inventory, extra_vars) if extra_vars else Cluster.from_inventory(args.inventory)
            results += run_drills(cluster, drill_names(cluster, given), args)
    finally:
        if deployed:
            deploy(args.inventory, {})

    summary = summarize(results, by_deployment=deployed)
    folder = pathlib.Path(args.report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "latest-summary.md").write_text(markdown_table(results) + "\n" + summary)
    (folder / "latest-results.json").write_text(json.dumps(results, indent=2, default=str))
    print(summary)
    failed = [r for r in results if not r["passed"] and not (args.sync_off and only_loss(r))]
    return 1 if failed else 0


def drill_names(cluster, given):
    """The drills to run, groups expanded (all: the VIP drills only where the inventory
    has a VIP to move)."""
    groups = {
        "all": [n for n in FAILOVER if cluster.vip or not FAILOVER[n].moves_vip],
        "day2": list(DAY2),
        "matrix": list(MATRIX_DRILLS),
    }
    return [name for drill in given for name in groups.get(drill, [drill])]


def run_drills(cluster, names, args):
    """Each drill `args.runs` times on the cluster as it is deployed; the results."""
    if args.sync_off:
        set_synchronous_mode(cluster, False)
    results = []
    try:
        for name in names:
            for run in range(args.runs):
                print(f"=== {name} run {run + 1}/{args.runs}, {label(cluster)}", flush=True)
                result = Drill(cluster, name, rate=args.rate, report_dir=args.report_dir).run()
                result["synchronous_mode"] = not args.sync_off
                result["deployment"] = label(cluster)
                results.append(result)
                print(markdown_table([result]), flush=True)
                print(f"report: {result['report']}", flush=True)
                for failure in result["failures"]:
                    print(f"  FAILED: {failure}", flush=True)
    finally:
        if args.sync_off:
            set_synchronous_mode(cluster, True)
    return results


RESTORE_COLUMNS = {
    **dict.fromkeys(
        ("major-upgrade", "major-upgrade-rollback"),
        (
            "playbook_seconds", "held_seconds", "write_pause_s", "acknowledged", "acknowledged_lost",
            "duplicates_dropped_again", "stats_exact", "server_version", "failed_requests", "passed",
        ),
    ),
    "operator-error": (
        "restore_seconds", "rto_seconds", "acknowledged_before_t", "acknowledged_lost", "after_t_survived",
        "rows_written_after_t", "acknowledged_after_restore", "split_brain_samples", "passed",
    ),
    "cluster-loss": (
        "rebuild_seconds", "rto_seconds", "acknowledged_before_loss", "acknowledged_before_limit",
        "acknowledged_lost", "lost_window_s",
        "lost_beyond_limit", "acknowledged_after_restore", "passed",
    ),
}  # fmt: skip


def run_restore_drill(drill_class, cluster, args):
    """Runs of a restore drill, a table of their figures, exit status 1 if one failed."""
    columns = RESTORE_COLUMNS[drill_class.name]
    table = ["| run | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    results = []
    for run in range(args.runs):
        print(f"=== {drill_class.name} run {run + 1}/{args.runs}", flush=True)
        result = drill_class(cluster, rate=args.rate, report_dir=args.report_dir).run()
        results.append(result)
        table.append(f"| {run + 1} | " + " | ".join(str(result[c]) for c in columns) + " |")
        print(f"report: {result['report']}", flush=True)
        for failure in result["failures"]:
            print(f"  FAILED: {failure}", flush=True)
    print("\n".join(table))
    folder = pathlib.Path(args.report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "latest-summary.md").write_text("\n".join(table) + "\n")
    (folder / "latest-results.json").write_text(json.dumps(results, indent=2, default=str))
    return 0 if all(r["passed"] for r in results) else 1


def only_loss(result):
    """Synchronous mode off may lose acknowledged writes (measured, not failed); any
    other failure, consistency included, still fails the run."""
    return all("acknowledged events lost" in f for f in result["failures"])


def summarize(results, by_deployment=False):
    """One row per drill (per deployment and drill with `by_deployment`: the preset or
    durability mode deployed, with Patroni's ttl/loop_wait/retry_timeout and synchronous_mode)."""
    lines = [
        ("| deployment (ttl/loop_wait/retry_timeout, synchronous_mode) " if by_deployment else "")
        + "| drill | runs | write gap median s | write gap max s | bound s | acks in the second before (min) "
        "| acked lost | split-brain samples | most unknown probe (max) | rejoin max s | VIP moved max s "
        "| failed requests |",
        ("|---" if by_deployment else "") + "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in dict.fromkeys((r.get("deployment"), r["drill"]) for r in results):
        runs = [r for r in results if (r.get("deployment"), r["drill"]) == key]
        name = f"{key[0]} | {key[1]}" if by_deployment else key[1]
        downtimes = [r["write_downtime_s"] for r in runs]
        rejoins = [r["rejoin"]["seconds"] for r in runs if r["rejoin"]]
        moves = [r["vip_moved_after_s"] for r in runs if r.get("vip_moved_after_s") is not None]
        bounds = [r.get("write_gap_bound_s") for r in runs]
        before = min(r.get("acks_second_before_fault", 0) for r in runs)
        shares = [(share, probe) for r in runs for probe, share in (r.get("unknown_share") or {}).items()]
        unknown = "{1} {0:.1%}".format(*max(shares)) if shares else "none"
        lines.append(
            f"| {name} | {len(runs)} | {statistics.median(downtimes):.2f} | {max(downtimes):.2f} | "
            f"{min(b for b in bounds if b is not None) if any(bounds) else '-'} | {before} | "
            f"{sum(r['acknowledged_lost'] for r in runs)} | {sum(r['split_brain_samples'] for r in runs)} | "
            f"{unknown} | "
            f"{max(rejoins) if rejoins else '-'} | {max(moves) if moves else '-'} | "
            f"{sum(r.get('failed_requests') or 0 for r in runs)} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
