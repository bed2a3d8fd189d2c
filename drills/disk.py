"""disk-full: the primary's data filesystem fills up under load.

First a ballast file leaves ALMOST_FULL of the filesystem free, below the DiskAlmostFull
threshold, and the drill waits for that alert: it must fire before the disk is full.
Then a second ballast takes every byte left and the disk stays full for the hold:
PostgreSQL cannot extend a table, the aggregator answers 503 with Retry-After and
acknowledges nothing it could not store.

Whether PostgreSQL stops meanwhile is WAL's doing: it PANICs when it must create a WAL
segment and cannot. archive_timeout makes it start a segment at least that often, but
a segment an earlier checkpoint recycled is reused without needing space, so a cluster
that has recycled segments runs on refusing inserts. If PostgreSQL stopped, Patroni
either gave the leadership to a replica (its own disk has room; the old primary must
then rejoin) or kept it and started PostgreSQL in place again and again until space
came back. Every outcome is allowed and reported; none may lose an acknowledged event
or make two primaries.
The heal deletes the ballast, as the runbook's first step does; ingest must go on with
nothing restarted by hand (the aggregators keep their processes).
"""

import time

from .faults import Fault
from .monitoring import Monitoring
from .polling import wait_until as wait
from .postgres import run_sql

ALERT = "DiskAlmostFull"
ALMOST_FULL = 0.03  # share of the filesystem the first ballast leaves free (the alert: < 5 %)
ALERT_WAIT = 180  # seconds the alert has to fire: its `for` (1 m), scrapes and evaluations
# The drill fills a filesystem: only one this small (the lab's own disks), never a
# host's root filesystem by mistake.
LARGEST_DISK = 64 * 2**30
BALLAST = ("pgha-drill-ballast-almost", "pgha-drill-ballast-full")
REFUSAL = "the database's disk is full"  # what the aggregator logs when it answers 503 for it
CLIENT_BACKOFF = 7.5  # the drills' publisher waits at most 5 s x 1.5 (jitter) between retries
STOP_CHECK = 5  # seconds the heal first watches whether PostgreSQL stopped (a new postmaster)


class DiskFull(Fault):
    name, hold, loses_node, expect_failover = "disk-full", 60, False, None
    alerts = (ALERT,)
    alert_fire_limit = ALERT_WAIT
    archive_timeout = 0  # the primary's, in seconds (read in prepare)
    stopped = False  # PostgreSQL stopped while the disk was full
    loop_wait = 10.0

    def prepare(self, cluster):
        """No ballast left by an earlier run that died, on any database node; the
        settings the hold and the bound are made of."""
        for node in cluster.nodes:
            directory = data_filesystem(cluster, node)["target"]
            cluster.exec(node, "rm", "-f", *(f"{directory}/{name}" for name in BALLAST))
        rows = run_sql(
            cluster.connect(cluster.nodes[cluster.leader()], dbname="postgres"),
            "SELECT setting::int FROM pg_settings WHERE name = 'archive_timeout'",
        )
        self.archive_timeout = rows[0][0]
        self.loop_wait = float(cluster.dynamic_config()["loop_wait"])

    def hold_for(self, cluster):
        """Full for at least one forced segment switch (archive_timeout) and the two
        Patroni loops a failover takes after it, when the switch stops PostgreSQL."""
        return max(self.hold, self.archive_timeout + 2 * self.loop_wait + 10)

    def failover_wait(self):
        """Seconds the heal waits for a replica to lead when PostgreSQL stopped late in
        the hold: Patroni's loop on the old primary, then the replica's."""
        return 2 * self.loop_wait + 10

    def before(self, cluster, node):
        disk = data_filesystem(cluster, node)
        if disk["size"] > LARGEST_DISK:
            raise RuntimeError(
                f"disk-full: {node}'s data directory is on {disk['source']} ({disk['size'] / 2**30:.0f} GiB, "
                f"mounted at {disk['target']}); the drill fills only a disk of at most {LARGEST_DISK // 2**30} GiB "
                "(the lab gives each database node its own: lab_disk_sizes; `make destroy lab` rebuilds a lab "
                "made before it)"
            )
        self.directory = disk["target"]  # the heal must not need PostgreSQL: it may be down
        self.postmaster_before = postmaster_start(cluster, node)
        return {
            "t": time.time(),
            "disk": disk,
            "aggregator_pids": aggregator_pids(cluster),
        }

    def inject(self, cluster, node, before):
        disk, monitoring = before["disk"], Monitoring.of(cluster)
        almost, full = (f"{disk['target']}/{name}" for name in BALLAST)
        allocate(cluster, node, almost, free_bytes(cluster, node, disk["target"]) - int(ALMOST_FULL * disk["size"]))
        before["almost_full_at"] = time.time()
        before["free_when_almost_full"] = free_bytes(cluster, node, disk["target"])
        if monitoring:
            if not wait(lambda: ALERT in monitoring.firing(), ALERT_WAIT):
                raise RuntimeError(f"{ALERT} did not fire within {ALERT_WAIT} s of {node}'s data disk reaching 97 %")
            before["alert_after_s"] = round(time.time() - before["almost_full_at"], 1)
        # Every byte left: most of it at once, the last blocks written until the
        # filesystem refuses (fallocate cannot take the blocks its own extents need).
        allocate(cluster, node, full, free_bytes(cluster, node, disk["target"]) - 2**20)
        cluster.exec(node, "sh", "-c", f"cat /dev/zero >> {full} 2>/dev/null; sync", check=False, timeout=60)
        before["free_when_full"] = free_bytes(cluster, node, disk["target"])

    def effect(self, cluster, node, before):
        refused = refusals(cluster, before["t"])
        if not refused:
            return None
        free = free_bytes(cluster, node, before["disk"]["target"])
        return f"{node}'s data disk has {free} bytes free; the aggregators refused {refused} batches for it (503)"

    def before_heal(self, cluster, node):
        """If PostgreSQL stopped, Patroni gets the time of a failover before space comes
        back. It may give the leadership up (a replica leads, and the old primary must
        rejoin), or keep it and start PostgreSQL again and again in place (it comes back
        after the heal): both seen, both reported. (A late REST answer is no stop.)"""
        if not wait(lambda: postmaster_start(cluster, node) == self.postmaster_before, STOP_CHECK):
            self.stopped = True
            self.loses_node = bool(wait(lambda: cluster.leader() not in (None, node), self.failover_wait()))

    def heal(self, cluster, node):
        cluster.exec(node, "rm", "-f", *(f"{self.directory}/{name}" for name in BALLAST))

    def write_gap_bound(self, terms):
        """Nothing is stored from the moment the disk is full until a replica leads or
        the ballast is deleted: the hold, the check whether PostgreSQL stopped and the
        heal's wait for a failover at most.
        Then Patroni starts PostgreSQL on its next loop (if it stopped), HAProxy marks
        the primary up, and the publisher's next retry lands."""
        return terms.bound(
            full=self.hold_for(None) + STOP_CHECK + self.failover_wait(),
            loop_wait=terms.loop_wait,
            haproxy_up=terms.haproxy_up,
            client_backoff=CLIENT_BACKOFF,
        )

    def load_seconds(self, cluster):
        return ALERT_WAIT + self.hold_for(cluster) + self.failover_wait() + 300

    def after_load(self, cluster, before):
        """Nothing restarted by hand: every aggregator still runs as the process it was."""
        now = aggregator_pids(cluster)
        restarted = {
            host: (pid, now.get(host)) for host, pid in before["aggregator_pids"].items() if now.get(host) != pid
        }
        return [f"aggregators restarted during the drill (before, after): {restarted}"] if restarted else []

    def report(self, cluster, before, node):
        """What the filling did, and what PostgreSQL and Patroni did about it."""
        since = before["t"]
        log = cluster.exec(
            node, "journalctl", "-u", "patroni", "--since", f"@{int(since)}", "--no-pager", "-o", "cat", check=False
        ).stdout
        return {
            "disk": {
                "filesystem": before["disk"],
                "free_when_almost_full": before.get("free_when_almost_full"),
                "alert_after_s": before.get("alert_after_s"),
                "free_when_full": before.get("free_when_full"),
                "refused_batches": refusals(cluster, since),
                "postgres_panics": log.count("PANIC:"),
                "postgres_no_space_lines": log.count("No space left on device"),
                "postgres_stopped": self.stopped,
                "leadership_moved_before_the_heal": self.loses_node,
            }
        }


def data_filesystem(cluster, node):
    """The filesystem holding the node's data directory: source, fstype, size, target."""
    fields = ("source", "fstype", "size", "target")
    out = cluster.exec(
        node, "df", "--block-size=1", f"--output={','.join(fields)}", cluster.data_directory(node)
    ).stdout.splitlines()[-1]
    values = dict(zip(fields, out.split(), strict=True))
    return {**values, "size": int(values["size"])}


def free_bytes(cluster, node, directory):
    return int(cluster.exec(node, "df", "--block-size=1", "--output=avail", directory).stdout.split()[-1])


def allocate(cluster, node, path, size):
    """A ballast file of `size` bytes, allocated without writing them."""
    if size > 0:
        cluster.exec(node, "fallocate", "--length", str(size), path)


def aggregator_pids(cluster):
    return {host: cluster.unit_state(host, "aggregator")[1] for host in cluster.aggregators}


def postmaster_start(cluster, node):
    status, body = cluster.patroni(node, "/patroni")
    return body.get("postmaster_start_time") if status == 200 and body else None


def refusals(cluster, since):
    """Batches the aggregators answered 503 for a full disk since `since` (their logs)."""
    total = 0
    for host in cluster.aggregators:
        out = cluster.exec(
            host, "journalctl", "-u", "aggregator", "--since", f"@{int(since)}", "--no-pager", "-o", "cat",
            "--grep", REFUSAL, check=False,
        ).stdout  # fmt: skip
        total += sum(1 for line in out.splitlines() if REFUSAL in line)
    return total
