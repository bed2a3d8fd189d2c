"""Restore drills, both under live ingest, with the aggregator never restarted:

- operator-error: note a time T, run `DELETE FROM events` on the primary, and undo it
  with playbooks/restore.yml to T. Every event acknowledged before T must come back,
  nothing committed after T may, /stats must agree with the rows, ingest works again.
- cluster-loss: destroy every database node with its volumes, rebuild with site.yml
  restoring `latest`. Events acknowledged more than archive_timeout + 5 s before the
  loss must all be there; the loss and the ack-time window it came from are reported."""

import datetime
import json
import math
import subprocess
import time
import uuid

from . import analysis
from .checks import check_consistency, get_json, missing_acks, missing_on_leader, node_digests, require_whole
from .load import finish, read_acks, start_load
from .polling import wait_until as wait
from .report import report_folder
from .sampler import Sampler
from .secrets import ansible_env
from .topology import REPO

BEFORE_T = 10  # seconds of load before T
AFTER_T = 8  # seconds of load after T: these events must not survive the restore
AMBIGUOUS = 1.0  # an event acknowledged within this long after T may have committed before it
AFTER_RESTORE = 10  # seconds of load once the cluster is back
LOSS_MARGIN = 5  # beyond archive_timeout, seconds an acknowledged event may be lost
# Load before the loss beyond archive_timeout + LOSS_MARGIN: events acknowledged that
# long before the loss exist, and each of them must survive it.
LOSS_OLD_ENOUGH = 20


def run_playbook(cluster, playbook, *extra):
    """ansible-playbook on the drill's inventory; (seconds, CompletedProcess). The log
    shows each task's time (where a restore spends it)."""
    started = time.time()
    argv = ["ansible-playbook", "-i", cluster.inventory, str(REPO / playbook), *extra]
    env = dict(ansible_env(), ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks")
    run = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env)
    return time.time() - started, run


def ingest_again(cluster, rate, run_id):
    """A short load once the cluster is back: (acknowledged, lost, first ack time, output)."""
    ack_log = f"/tmp/{run_id}-after.acks"
    out = finish(start_load(cluster, rate, ack_log, AFTER_RESTORE, run_id + "-after"), timeout=AFTER_RESTORE + 300)
    acks = read_acks(ack_log)
    lost = missing_on_leader(cluster, acks)
    return len(acks), len(lost), min((t for *_, t in acks), default=None), out[-800:]


class RestoreDrill:
    """What both restore drills share: their settings, a run id, and a whole cluster to start on."""

    name = ""

    def __init__(self, cluster, rate=200, report_dir=None, log=print):
        self.cluster, self.rate, self.report_dir, self.log = cluster, rate, report_dir, log
        self.run_id = f"drill-{self.name}-{uuid.uuid4().hex[:8]}"

    def start(self):
        """The report folder, once the cluster is whole."""
        require_whole(self.cluster)
        return report_folder(self.report_dir, self.name, time.time())


class OperatorError(RestoreDrill):
    name = "operator-error"

    def run(self):
        cluster = self.cluster
        folder = self.start()
        stats_before = get_json(cluster, "/stats")
        sampler = Sampler(cluster)
        sampler.start()

        ack_log = f"/tmp/{self.run_id}.acks"
        load = start_load(cluster, self.rate, ack_log, BEFORE_T + AFTER_T, self.run_id)
        target = math.ceil(time.time() + BEFORE_T)
        time.sleep(max(0.0, target - time.time()))
        target_text = datetime.datetime.fromtimestamp(target, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S+00")
        self.log(f"[{self.name}] T = {target_text}")
        finish(load, timeout=BEFORE_T + AFTER_T + 120)
        acks = read_acks(ack_log)

        deleted = self._delete_everything()
        self.log(f"[{self.name}] DELETE FROM events removed {deleted} rows; restoring to T")
        restore_started = time.time()
        restore_seconds, playbook = run_playbook(
            cluster, "playbooks/restore.yml", "-e", f"restore_confirm={cluster.scope}",
            "-e", f"restore_target_time='{target_text}'",
        )  # fmt: skip
        (folder / "restore.log").write_text(playbook.stdout + playbook.stderr)
        self.log(f"[{self.name}] restore.yml rc {playbook.returncode} after {restore_seconds:.1f} s")

        settled = wait(cluster.healthy, 120)
        after_acked, after_lost, first_write, after_out = ingest_again(cluster, self.rate, self.run_id)
        sampler.stop()

        result = {
            "drill": self.name,
            "run_id": self.run_id,
            "target_time": target_text,
            "acknowledged_before_t": sum(1 for *_, t in acks if t < target),
            "acknowledged_after_t": sum(1 for *_, t in acks if t > target + AMBIGUOUS),
            "deleted_rows": deleted,
            "restore_rc": playbook.returncode,
            "restore_seconds": round(restore_seconds, 1),
            "rto_seconds": round(first_write - restore_started, 1) if first_write else None,
            "settled": settled,
            "acknowledged_after_restore": after_acked,
            "lost_after_restore": after_lost,
            "publisher_after_restore": after_out,
            "split_brain_samples": len(analysis.split_brain_samples(sampler.samples)),
        }
        result.update(self._check_rows(acks, target, restore_started))
        result["consistency"] = check_consistency(cluster, stats_before) if settled else None
        result["failures"] = verdict(result)
        result["passed"] = not result["failures"]
        (folder / "report.json").write_text(json.dumps(result, indent=2, default=str))
        result["report"] = str(folder)
        return result

    def _delete_everything(self):
        conn = self.cluster.connect(self.cluster.nodes[self.cluster.leader()])
        try:
            with conn, conn.cursor() as cur:
                cur.execute("DELETE FROM events")
                return cur.rowcount
        finally:
            conn.close()

    def _check_rows(self, acks, target, restore_started):
        conn = self.cluster.connect(self.cluster.nodes[self.cluster.leader()])
        try:
            lost = missing_acks(conn, [a for a in acks if a[2] < target])
            late = [a for a in acks if a[2] > target + AMBIGUOUS]
            survived = len(late) - len(missing_acks(conn, late))
            with conn, conn.cursor() as cur:
                cur.execute(
                    "SELECT count(*) FROM events"
                    " WHERE received_at > to_timestamp(%s) AND received_at < to_timestamp(%s)",
                    (target, restore_started),
                )
                (written_after_t,) = cur.fetchone()
        finally:
            conn.close()
        return {
            "acknowledged_lost": len(lost),
            "lost_examples": lost[:10],
            "after_t_survived": survived,
            "rows_written_after_t": written_after_t,
        }


def verdict(r):
    """The drill's failures (empty: passed), from its result alone."""
    failures = []
    if r["restore_rc"] != 0:
        failures.append(f"restore.yml failed (rc {r['restore_rc']}); see restore.log")
    if not r["settled"]:
        failures.append("cluster did not settle after the restore (one leader, all others streaming)")
    if r["acknowledged_before_t"] == 0 or r["acknowledged_after_t"] == 0:
        failures.append("the load did not straddle T: nothing proves the target was honoured")
    # The mistake must have removed every acknowledged event, or the restore proves nothing.
    if r["deleted_rows"] < r["acknowledged_before_t"] + r["acknowledged_after_t"]:
        failures.append(
            f"the DELETE removed {r['deleted_rows']} rows, fewer than the "
            f"{r['acknowledged_before_t'] + r['acknowledged_after_t']} events acknowledged: no mistake to undo"
        )
    if r["acknowledged_lost"]:
        failures.append(f"{r['acknowledged_lost']} events acknowledged before T are missing")
    if r["after_t_survived"] or r["rows_written_after_t"]:
        failures.append(
            f"the restore went past T: {r['after_t_survived']} events acknowledged after T, "
            f"{r['rows_written_after_t']} rows received after T"
        )
    return failures + after_restore_failures(r, "restore")


class ClusterLoss(RestoreDrill):
    name = "cluster-loss"

    def run(self):
        cluster = self.cluster
        folder = self.start()
        archive_timeout = int(cluster.dynamic_config()["postgresql"]["parameters"]["archive_timeout"])

        limit = archive_timeout + LOSS_MARGIN
        warmup = limit + LOSS_OLD_ENOUGH
        ack_log = f"/tmp/{self.run_id}.acks"
        load = start_load(cluster, self.rate, ack_log, warmup + 15, self.run_id)
        time.sleep(warmup)
        loss_time = time.time()
        destroyed = self._destroy_database_nodes()
        self.log(f"[{self.name}] destroyed {', '.join(destroyed)}; rebuilding with site.yml, restoring latest")
        # Nothing can be acknowledged any more: stop the publisher instead of letting it
        # retry for minutes (each acknowledged id is already in its log).
        load.terminate()
        finish(load, timeout=30)
        acks = read_acks(ack_log)

        rebuild_seconds, playbook = run_playbook(
            cluster, "site.yml", "-e", "restore_target=latest", "-e", f"restore_confirm={cluster.scope}"
        )
        (folder / "site.log").write_text(playbook.stdout + playbook.stderr)
        self.log(f"[{self.name}] site.yml rc {playbook.returncode} after {rebuild_seconds:.1f} s")
        settled = wait(cluster.healthy, 120)
        sampler = Sampler(cluster)  # the rebuilt cluster under load again: one writer at a time
        sampler.start()
        try:
            after_acked, after_lost, first_write, after_out = ingest_again(cluster, self.rate, self.run_id)
        finally:
            sampler.stop()

        lost = missing_on_leader(cluster, acks)
        ack_time = {f"{topic}/{event_id}": t for topic, event_id, t in acks}
        lost_ages = sorted(loss_time - ack_time[key] for key in lost)
        result = {
            "drill": self.name,
            "run_id": self.run_id,
            "archive_timeout_s": archive_timeout,
            "acknowledged_before_loss": len(acks),
            "acknowledged_before_limit": sum(1 for *_, t in acks if loss_time - t > limit),
            "acknowledged_lost": len(lost),
            # Seconds before the loss of the oldest and newest lost acknowledgement.
            "lost_window_s": [round(lost_ages[-1], 1), round(lost_ages[0], 1)] if lost else None,
            "lost_beyond_limit": sum(1 for age in lost_ages if age > limit),
            "limit_s": limit,
            "restore_rc": playbook.returncode,
            "rebuild_seconds": round(rebuild_seconds, 1),
            "rto_seconds": round(first_write - loss_time, 1) if first_write else None,
            "settled": settled,
            "acknowledged_after_restore": after_acked,
            "lost_after_restore": after_lost,
            "publisher_after_restore": after_out,
            "split_brain_samples": len(analysis.split_brain_samples(sampler.samples)),
            "consistency": check_nodes(cluster) if settled else None,
        }
        result["failures"] = loss_verdict(result)
        result["passed"] = not result["failures"]
        (folder / "report.json").write_text(json.dumps(result, indent=2, default=str))
        result["report"] = str(folder)
        return result

    def _destroy_database_nodes(self):
        """Every database container and its volumes, as if the site burned down."""
        for name in self.cluster.nodes:
            self.cluster.docker("rm", "-f", "-v", name)
            volumes = self.cluster.docker("volume", "ls", "-q", "--filter", f"name=pgha_{name}_").stdout.split()
            if volumes:
                self.cluster.docker("volume", "rm", *volumes)
        return list(self.cluster.nodes)


def after_restore_failures(r, what):
    """What both restore drills require once the cluster is back: ingest works and loses
    nothing, no split brain was sampled, the counters agree with identical nodes."""
    failures = []
    if r["acknowledged_after_restore"] == 0 or r["lost_after_restore"]:
        failures.append(
            f"ingest after the {what}: {r['acknowledged_after_restore']} acknowledged, {r['lost_after_restore']} lost"
        )
    if r["split_brain_samples"]:
        failures.append(f"{r['split_brain_samples']} split-brain samples")
    c = r["consistency"]
    if not c or not (c["stats_invariant"] and c["unique_equals_rows"] and c["nodes_identical"]):
        failures.append(f"consistency: {c}")
    return failures


def check_nodes(cluster):
    """After a rebuild: /stats agrees with the rows, and every node holds the same rows
    (the counters came back from the repository with the events, in one transaction)."""
    stats = get_json(cluster, "/stats")
    digests = {}

    def identical():
        digests.update(node_digests(cluster))
        return len({tuple(v) for v in digests.values()}) == 1

    same = wait(identical, 30)
    rows = next(iter(digests.values()))[0]
    return {
        "stats_invariant": stats["received"] == stats["unique_processed"] + stats["duplicate_dropped"],
        "unique_equals_rows": stats["unique_processed"] == rows,
        "nodes_identical": same,
        "node_digests": digests,
    }


def loss_verdict(r):
    """cluster-loss's failures (empty: passed), from its result alone."""
    failures = []
    limit = r["limit_s"]
    if r["restore_rc"] != 0:
        failures.append(f"site.yml failed (rc {r['restore_rc']}); see site.log")
    if not r["settled"]:
        failures.append("cluster did not settle after the rebuild")
    if r["acknowledged_before_limit"] == 0:
        failures.append(f"no event was acknowledged more than {limit} s before the loss: nothing was checked")
    if r["lost_beyond_limit"]:
        failures.append(f"{r['lost_beyond_limit']} events acknowledged more than {limit} s before the loss lost")
    return failures + after_restore_failures(r, "rebuild")
