"""What monitoring costs on the running lab: memory and CPU of Prometheus, Alertmanager,
the webhook receiver and every exporter, read from systemd's cgroup accounting on each
node over the same window, beside the database tier's own (PostgreSQL + Patroni) as
the baseline of the same run.

    python bench/monitoring_footprint.py [--seconds 60]    (on a running `make lab`)
"""

import argparse
import json
import pathlib
import time

import yaml

from drills.cluster import Cluster

INVENTORY = pathlib.Path(__file__).resolve().parents[1] / "inventory" / "lab"
MONITORING_UNITS = {
    "monitoring": ["prometheus", "prometheus-alertmanager", "pgha-alert-log"],
    "all": ["prometheus-node-exporter"],
    "postgres": ["prometheus-postgres-exporter"],
}
DATABASE_UNITS = ["patroni"]  # PostgreSQL runs in Patroni's cgroup


# Run on the node: per unit, the processes of its cgroup (systemd's own hierarchy), their
# proportional memory (Pss, so PostgreSQL's shared buffers count once) and CPU ticks.
PROBE = """
import json, os, subprocess, sys
ticks = os.sysconf("SC_CLK_TCK")
out = {}
for unit in sys.argv[1:]:
    group = subprocess.run(["systemctl", "show", "-p", "ControlGroup", "--value", unit],
                           capture_output=True, text=True).stdout.strip()
    memory = cpu = 0
    for pid in open(f"/sys/fs/cgroup/systemd{group}/cgroup.procs").read().split():
        try:
            rollup = open(f"/proc/{pid}/smaps_rollup").read()
            memory += int(next(line.split()[1] for line in rollup.splitlines() if line.startswith("Pss:"))) * 1024
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / ticks
        except (FileNotFoundError, ProcessLookupError):
            pass  # the process ended in between
    out[unit] = [memory, cpu]
print(json.dumps(out))
"""


def sample(cluster, node, units):
    """{unit: (memory bytes, CPU seconds so far)} of the units' processes on `node`."""
    return json.loads(cluster.exec(node, "python3", "-c", PROBE, *units).stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    cluster = Cluster.from_inventory(INVENTORY)
    monitoring_node = cluster.monitoring_node
    lab = yaml.safe_load((INVENTORY / "hosts.yml").read_text())["all"]["children"]["lab_containers"]["hosts"]
    nodes = list(lab)  # every node runs a node exporter
    plan = {}
    for node in nodes:
        units = list(MONITORING_UNITS["all"])
        if node == monitoring_node:
            units += MONITORING_UNITS["monitoring"]
        if node in cluster.nodes:
            units += MONITORING_UNITS["postgres"] + DATABASE_UNITS
        plan[node] = units
    start, t0 = {n: sample(cluster, n, u) for n, u in plan.items()}, time.time()
    time.sleep(args.seconds)
    end, t1 = {n: sample(cluster, n, u) for n, u in plan.items()}, time.time()

    totals = {}
    print(f"{'node':8} {'unit':30} {'memory MiB':>10} {'CPU %':>7}")
    for node, units in plan.items():
        for unit in units:
            memory, cpu = end[node][unit][0], (end[node][unit][1] - start[node][unit][1]) / (t1 - t0) * 100
            kind = "database" if unit in DATABASE_UNITS else "monitoring"
            mem_total, cpu_total = totals.get(kind, (0, 0.0))
            totals[kind] = (mem_total + memory, cpu_total + cpu)
            print(f"{node:8} {unit:30} {memory / 2**20:10.1f} {cpu:7.2f}")
    (mon_mem, mon_cpu), (db_mem, db_cpu) = totals["monitoring"], totals["database"]
    print(f"\nmonitoring, every node: {mon_mem / 2**20:.0f} MiB, {mon_cpu:.1f} % of one core over {t1 - t0:.0f} s")
    print(f"database tier (PostgreSQL + Patroni, 3 nodes): {db_mem / 2**20:.0f} MiB, {db_cpu:.1f} % of one core")
    print(f"monitoring / database: memory {mon_mem / db_mem:.2f}, CPU {mon_cpu / db_cpu:.2f}")


if __name__ == "__main__":
    main()
