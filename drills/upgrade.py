"""The rolling-upgrade drill: playbooks/upgrade.yml under load, from an older Patroni
and an older aggregator build to the inventory's pin and this checkout's code, one node
at a time with exactly one handover."""

import contextlib
import json
import subprocess
import tempfile
import urllib.request

from aggregator.build import build_id

from .faults import Fault
from .membership import PLAYBOOK_TIMEOUT
from .topology import REPO

# The release the drill starts from: the last of the series before the pinned one.
OLDER_PATRONI = "4.0.11"
# The aggregator build it starts from: this repository's app at an older commit (the
# one before the queue-wait histogram; same schema, so it runs on today's database).
# It predates GET /health's build, which is how the drill tells it from the new code.
OLDER_AGGREGATOR_COMMIT = "50afe02"
UPGRADE = "playbooks/upgrade.yml"
APP = REPO / "app"


def running_patroni(cluster):
    """{node: the Patroni version its REST API reports (None: no answer)}."""
    versions = {}
    for node in cluster.nodes:
        status, body = cluster.patroni(node, "/patroni")
        versions[node] = (body or {}).get("patroni", {}).get("version") if status == 200 else None
    return versions


def current_build():
    """The build this checkout's aggregator reports once installed (the app's own
    digest, applied to app/aggregator here)."""
    return build_id(APP / "aggregator")


def running_builds(cluster, requests=40):
    """{aggregator: the build its GET /health reports ("older": none, as before builds
    were reported)}, asked through the front door on fresh connections until every
    aggregator answered (HAProxy names the server in X-Served-By)."""
    builds = {}
    for _ in range(requests):
        with urllib.request.urlopen(cluster.api_url + "/health", timeout=10, context=cluster.tls_context()) as answer:
            builds[answer.headers["X-Served-By"]] = json.load(answer).get("build", "older")
        if set(builds) >= set(cluster.aggregators):
            break
    return builds


@contextlib.contextmanager
def older_app():
    """This repository's app/ at OLDER_AGGREGATOR_COMMIT, unpacked into a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="pgha-older-app-") as folder:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", OLDER_AGGREGATOR_COMMIT, "app"], capture_output=True,
        )  # fmt: skip
        if archive.returncode != 0:
            raise RuntimeError(
                f"rolling-upgrade deploys the aggregator of commit {OLDER_AGGREGATOR_COMMIT} first, which this "
                f"checkout lacks ({archive.stderr.decode().strip()}): run it from a full clone (git fetch --unshallow)"
            )
        subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
        yield f"{folder}/app"


class RollingUpgrade(Fault):
    """The cluster first runs OLDER_PATRONI (the same playbook with an older pin, before
    the load starts); then playbooks/upgrade.yml brings every node to the pinned Patroni:
    replicas first, a switchover to the upgraded synchronous standby, the former leader
    last. The leadership moves exactly once, and every node runs the pin afterwards."""

    name, loses_node, expect_failover = "rolling-upgrade", False, True
    leader_moves = 1

    def prepare(self, cluster):
        self.build = current_build()
        older = set(running_patroni(cluster).values()) == {OLDER_PATRONI}
        if older and self.build not in running_builds(cluster).values():
            return
        with older_app() as source:
            cluster.playbook(
                UPGRADE, "-e", f"patroni_version={OLDER_PATRONI}", "-e", f"aggregator_source_dir={source}",
                timeout=PLAYBOOK_TIMEOUT,
            )  # fmt: skip

    def before(self, cluster, node):
        return {"patroni": running_patroni(cluster), "aggregators": running_builds(cluster)}

    def inject(self, cluster, node, before):
        cluster.playbook(UPGRADE, timeout=PLAYBOOK_TIMEOUT)

    def effect(self, cluster, node, before):
        pinned, leader = cluster.setting("patroni_version"), cluster.leader()
        if set(running_patroni(cluster).values()) != {pinned} or leader in (None, node):
            return None
        builds = running_builds(cluster)
        if set(builds) != set(cluster.aggregators) or set(builds.values()) != {self.build}:
            return None
        was = ", ".join(sorted(set(filter(None, before["patroni"].values())))) or "unknown"
        built = ", ".join(sorted(set(before["aggregators"].values())))
        return (
            f"every node runs Patroni {pinned} (was {was}); {node} handed over to {leader}; "
            f"every aggregator runs build {self.build} (was {built})"
        )

    def write_gap_bound(self, terms):
        """The handover (HAProxy marks the new primary up), or a synchronous standby's
        restart: commits wait until the leader's next loop names another one."""
        return terms.bound(loop_wait=terms.loop_wait, haproxy_up=terms.haproxy_up)

    def load_seconds(self, cluster):
        return PLAYBOOK_TIMEOUT + 300
