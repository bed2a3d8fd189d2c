"""The major upgrade drills, under live ingest through the front door (they run alone,
like the restore drills):

- major-upgrade: playbooks/major_upgrade.yml moves the cluster to the new nodes of a
  second inventory source (inventory/lab-next: PostgreSQL 17 on Debian 13);
- major-upgrade-rollback: the same playbook with upgrade_rollback=true hands the writes
  back to the old cluster, then (lab only) the new nodes are retired so the next
  upgrade builds them again.

Each checks: every acknowledged event is on the cluster the front door reaches now,
events sent before the hand-over are still duplicates after it, /stats agrees with the
rows, the longest pause between acknowledgements, and the server's major version."""

import json
import re
import time
import uuid

from .checks import get_json, missing_acks, publish_status
from .load import finish, publisher_counts, read_acks, start_load
from .membership import lose_container
from .polling import wait_until as wait
from .postgres import run_sql
from .restore import RestoreDrill
from .secrets import rendered
from .topology import REPO, role_default

NEXT_INVENTORY = REPO / "inventory" / "lab-next"
NEXT_GROUP = "postgres_next"
PLAYBOOK_TIMEOUT = 2400  # seconds: new containers install PostgreSQL 17 and copy the data
BEFORE = 15  # seconds of load before the playbook starts
AFTER = 10  # seconds of load after it ended
PROBES = 50  # events sent before the hand-over and again after it: all duplicates then
LOAD_LIMIT = 3600  # the load's own end; the drill stops it with its stop file
MAX_PAUSE = 10.0  # seconds the front door may hold writes (the bound)


def next_nodes(cluster):
    """{name: address} of the new cluster's nodes (the second inventory source's group)."""
    return rendered([cluster.inventory, NEXT_INVENTORY], [NEXT_GROUP], "node_address")


def front_door(cluster):
    """A connection through the balancers' primary port: to whichever cluster they route to."""
    return cluster.connect(cluster.vip or next(iter(cluster.balancers.values())), port=cluster.primary_port)


def front_door_value(cluster, statement):
    return run_sql(front_door(cluster), statement)[0][0]


def front_door_missing(cluster, acks):
    """Acknowledged events absent from the cluster the front door routes to."""
    conn = front_door(cluster)
    try:
        return missing_acks(conn, acks)
    finally:
        conn.close()


def longest_pause(acks, start, end):
    """The longest time without an acknowledgement between start and end (seconds)."""
    times = sorted(t for *_, t in acks if start <= t <= end)
    return max((b - a for a, b in zip([start, *times], [*times, end], strict=True)), default=None)


def held_seconds(output):
    """What the playbook reports the hand-over held the writes for."""
    found = re.search(r"Writes were held for.*?msg: '?([0-9.]+) s", output, re.S)
    return float(found.group(1)) if found else None


class MajorUpgrade(RestoreDrill):
    name = "major-upgrade"
    rollback = False

    def run(self):
        cluster = self.cluster
        folder = self.start()
        token = cluster.api_token("write")
        topic = f"upgrade-probe-{uuid.uuid4().hex[:8]}"
        probes = [
            {"topic": topic, "event_id": f"p{i}", "timestamp": "2026-12-06T00:00:00Z", "source": "drill", "payload": {}}
            for i in range(PROBES)
        ]
        first_round = [publish_status(cluster, event, token) for event in probes]

        ack_log, stop_file = f"/tmp/{self.run_id}.acks", f"/tmp/{self.run_id}.stop"
        load = start_load(cluster, self.rate, ack_log, LOAD_LIMIT, self.run_id, stop_file=stop_file)
        time.sleep(BEFORE)
        argv = ["-e", f"upgrade_confirm={cluster.scope}", *(["-e", "upgrade_rollback=true"] if self.rollback else [])]
        started = time.time()
        try:
            run = cluster.playbook(
                "playbooks/major_upgrade.yml", *argv, timeout=PLAYBOOK_TIMEOUT, more_inventory=[NEXT_INVENTORY]
            )
            output, playbook_rc = run.stdout, 0
        except Exception as exc:  # CommandFailed carries the output
            output, playbook_rc = getattr(getattr(exc, "result", None), "stdout", str(exc)), 1
        ended = time.time()
        (folder / "playbook.log").write_text(output)
        self.log(f"[{self.name}] major_upgrade.yml rc {playbook_rc} after {ended - started:.1f} s")
        time.sleep(AFTER)
        open(stop_file, "w").close()
        publisher = finish(load, timeout=120)
        acks = read_acks(ack_log)

        settled = wait(lambda: cluster.healthy() and cluster.front_door_whole(), 120)
        stats_before = get_json(cluster, "/stats")
        second_round = [publish_status(cluster, event, token) for event in probes]
        stats = get_json(cluster, "/stats")
        rows = front_door_value(cluster, "SELECT count(*) FROM events")
        result = {
            "drill": self.name,
            "run_id": self.run_id,
            "playbook_rc": playbook_rc,
            "playbook_seconds": round(ended - started, 1),
            "held_seconds": held_seconds(output),
            "write_pause_s": round(longest_pause(acks, started, ended) or 0, 2),
            "acknowledged": len(acks),
            "acknowledged_lost": len(front_door_missing(cluster, acks)),
            "probes_first_round": sorted(set(first_round)),
            "probes_second_round": sorted(set(second_round)),
            "duplicates_dropped_again": stats["duplicate_dropped"] - stats_before["duplicate_dropped"],
            "unique_added_again": stats["unique_processed"] - stats_before["unique_processed"],
            "stats_exact": stats["unique_processed"] == rows
            and stats["received"] == stats["unique_processed"] + stats["duplicate_dropped"],
            "rows": rows,
            "server_version": front_door_value(cluster, "SELECT current_setting('server_version_num')::int / 10000"),
            "settled": settled,
            **publisher_counts(publisher),
        }
        result["failures"] = self.verdict(result)
        result["passed"] = not result["failures"]
        if self.rollback and cluster.lab:
            self.retire_next_cluster()
        (folder / "report.json").write_text(json.dumps(result, indent=2, default=str))
        result["report"] = str(folder)
        return result

    def expected_version(self):
        """The major version the front door must reach afterwards: the old cluster's
        after a rollback, the new one's after an upgrade."""
        group = "postgres" if self.rollback else NEXT_GROUP
        found = rendered([self.cluster.inventory, NEXT_INVENTORY], [group], "postgresql_version | default(none)")
        given = next(iter(found.values()))
        return int(role_default("postgresql_version", {"postgresql_version": given} if given else {}))

    def verdict(self, r):
        failures = []
        if r["playbook_rc"] != 0:
            failures.append("the playbook failed (playbook.log)")
        if r["acknowledged_lost"]:
            failures.append(f"{r['acknowledged_lost']} acknowledged events lost")
        if r["duplicates_dropped_again"] != PROBES or r["unique_added_again"] != 0:
            failures.append(
                f"events sent before the hand-over were not all duplicates after it "
                f"({r['duplicates_dropped_again']} dropped, {r['unique_added_again']} stored again)"
            )
        if not r["stats_exact"]:
            failures.append("/stats does not agree with the rows")
        if r["write_pause_s"] > MAX_PAUSE:
            failures.append(f"writes paused {r['write_pause_s']} s at the front door (bound {MAX_PAUSE})")
        if r["failed_requests"]:
            failures.append(f"{r['failed_requests']} requests failed")
        expected = self.expected_version()
        if r["server_version"] != expected:
            failures.append(f"the front door reaches PostgreSQL {r['server_version']}, not {expected}")
        return failures

    def retire_next_cluster(self):
        """Lab only: the new nodes and their DCS keys go, so the next upgrade builds
        them from scratch (what rebuilding VMs after a rollback does)."""
        nodes = next_nodes(self.cluster)
        for node in nodes:
            self.cluster.exec(node, "systemctl", "stop", "patroni", check=False)
        # The patroni role's task answers patronictl remove's two prompts (restore.yml's too).
        self.cluster.role_tasks(next(iter(nodes)), "patroni", "remove_cluster.yml", more_inventory=[NEXT_INVENTORY])
        for node in nodes:
            lose_container(self.cluster, node)


class MajorUpgradeRollback(MajorUpgrade):
    name = "major-upgrade-rollback"
    rollback = True
