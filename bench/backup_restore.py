"""Backup and restore times of the lab cluster with a generated table of --gigabytes.

    python bench/backup_restore.py [--gigabytes 2] [--inventory inventory/lab]

On a converged lab with a backup group: fills `backup_bench` (rows of ~1 KiB) on the
primary, then measures in the same run
  1. the baseline: reading the whole data directory of the standby the backup is taken
     from (tar, no compression, no encryption, no network);
  2. a full backup (playbooks/backup.yml -e backup_type=full);
  3. a restore of the whole cluster to `latest` (playbooks/restore.yml): the leader
     restored by Patroni's custom bootstrap, both replicas restored from the repository.
Prints each figure and the backup's throughput against the baseline, checks that the
restored table holds every row, then drops the table.
"""

import argparse
import sys
import time

from drills.cluster import Cluster
from drills.polling import wait_until
from drills.restore import run_playbook
from drills.topology import REPO

ROW_BYTES = 1024


def sql(cluster, statement, params=None):
    return cluster.leader_sql(statement, params, dbname="aggregator", timeout=10)


def timed_playbook(cluster, *args):
    seconds, run = run_playbook(cluster, *args)
    if run.returncode != 0:
        sys.exit(f"{args[0]} failed:\n{run.stdout[-3000:]}\n{run.stderr[-1000:]}")
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gigabytes", type=float, default=2.0)
    parser.add_argument("--inventory", default=str(REPO / "inventory" / "lab"))
    args = parser.parse_args(argv)
    cluster = Cluster.from_inventory(args.inventory)
    rows = int(args.gigabytes * 1024**3 / ROW_BYTES)

    print(f"filling backup_bench with {rows:,} rows of ~{ROW_BYTES} bytes", flush=True)
    sql(cluster, "DROP TABLE IF EXISTS backup_bench")
    sql(cluster, "CREATE TABLE backup_bench (id bigint PRIMARY KEY, body text)")
    step = 200_000
    for start in range(0, rows, step):
        sql(
            cluster,
            "INSERT INTO backup_bench SELECT i, md5(i::text) || repeat(md5((i + 1)::text), 31) "
            "FROM generate_series(%s, %s) AS i",
            (start, min(start + step, rows) - 1),
        )
    (database_bytes,) = sql(cluster, "SELECT sum(pg_database_size(datname)) FROM pg_database")[0]
    mib = float(database_bytes) / 1024**2
    print(f"cluster data: {mib:,.0f} MiB", flush=True)

    standby = next(m["name"] for m in cluster.members() if m["role"] != "leader")
    started = time.time()
    cluster.exec(standby, "sh", "-c", "tar -cf - /var/lib/postgresql/*/patroni | cat > /dev/null", timeout=3600)
    read_seconds = time.time() - started
    print(f"baseline: reading the data directory on {standby}: {read_seconds:.1f} s, {mib / read_seconds:.0f} MiB/s")

    backup_seconds = timed_playbook(cluster, "playbooks/backup.yml", "-e", "backup_type=full")
    print(
        f"full backup: {backup_seconds:.1f} s, {mib / backup_seconds:.0f} MiB/s "
        f"({mib / backup_seconds / (mib / read_seconds):.2f} x the baseline)",
        flush=True,
    )

    restore_seconds = timed_playbook(
        cluster, "playbooks/restore.yml", "-e", f"restore_confirm={cluster.scope}", "-e", "restore_target=latest"
    )
    wait_until(cluster.healthy, 300)
    (restored,) = sql(cluster, "SELECT count(*) FROM backup_bench")[0]
    print(f"restore of the whole cluster (3 nodes): {restore_seconds:.1f} s; backup_bench rows {restored:,}/{rows:,}")
    sql(cluster, "DROP TABLE backup_bench")
    return 0 if restored == rows else 1


if __name__ == "__main__":
    sys.exit(main())
