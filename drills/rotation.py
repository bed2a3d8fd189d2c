"""The rotate-secrets drill: playbooks/rotate_secrets.yml -e rotate=all under load. Every
old password must be refused afterwards; the previous tokens stay accepted (the load's
publisher still uses its old one) until `-e rotate_finish=true`, which the drill runs
once the load is over: then the old write token gets 401 and the new one 202."""

import urllib.error
import urllib.request
import uuid
from base64 import b64encode

import psycopg2

from .checks import publish_status
from .faults import Fault
from .monitoring import Monitoring

# The PostgreSQL logins: the drill's secret name -> the username setting.
LOGINS = {
    "postgres_superuser": "patroni_superuser_username",
    "postgres_replication": "patroni_replication_username",
    "postgres_rewind": "patroni_rewind_username",
    "postgres_app": "patroni_app_username",
    "postgres_monitor": "patroni_monitor_username",
}
CHECKED = (*LOGINS, "patroni_restapi", "haproxy_stats", "monitoring_web")
PLAYBOOK_TIMEOUT = 1500


def login_accepted(cluster, address, secret, password):
    """Whether PostgreSQL on `address` accepts the login with `password` (a replication
    connection for the replication user, whose normal sessions pg_hba rejects)."""
    options = {"replication": "true"} if secret == "postgres_replication" else {}
    try:
        psycopg2.connect(
            host=address, port=cluster.postgres_port, user=cluster.setting(LOGINS[secret]), password=password,
            dbname="postgres", connect_timeout=5, sslmode="verify-full", sslrootcert=cluster.ca_file, **options,
        ).close()  # fmt: skip
        return True
    except psycopg2.OperationalError as exc:
        if "password authentication failed" in str(exc):
            return False
        raise


def basic_accepted(url, user, password, context=None):
    """Whether an HTTP(S) GET with these credentials gets past authentication."""
    request = urllib.request.Request(url)
    request.add_header("Authorization", "Basic " + b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5, context=context):
            return True
    except urllib.error.HTTPError as exc:
        return exc.code != 401


def accepted(cluster, passwords):
    """The names of `passwords` ({secret: value}) the deployment accepts now."""
    leader = cluster.leader()
    found = [s for s in LOGINS if s in passwords and login_accepted(cluster, cluster.nodes[leader], s, passwords[s])]
    if "patroni_restapi" in passwords:
        # PATCH /config with nothing to change: authentication is all it tests.
        status, _ = cluster.patroni(leader, "/config", method="PATCH", body={}, password=passwords["patroni_restapi"])
        found += ["patroni_restapi"] if status != 401 else []
    user = cluster.setting("haproxy_stats_username")
    port = cluster.setting("haproxy_stats_port")
    if "haproxy_stats" in passwords and any(
        basic_accepted(f"http://{address}:{port}/;csv", user, passwords["haproxy_stats"])
        for address in cluster.balancers.values()
    ):
        found.append("haproxy_stats")
    monitoring = Monitoring.of(cluster)
    if monitoring and "monitoring_web" in passwords:
        url = f"https://{cluster.monitoring_address}:{cluster.setting('monitoring_prometheus_port')}/-/ready"
        user = cluster.setting("monitoring_web_username")
        if basic_accepted(url, user, passwords["monitoring_web"], cluster.tls_context()):
            found.append("monitoring_web")
    return found


class RotateSecrets(Fault):
    """Every secret rotated at once under load: no failed request, replication never
    stops, each old password refused afterwards."""

    name, loses_node, expect_failover = "rotate-secrets", False, False

    def target(self, cluster, leader, sync_standby):
        return "every secret"

    def before(self, cluster, node):
        cluster.forget_secrets()
        self.old_write_token = cluster.api_token("write")
        return {name: cluster.secret(name) for name in CHECKED if name != "monitoring_web" or cluster.monitoring}

    def inject(self, cluster, node, before):
        cluster.playbook("playbooks/rotate_secrets.yml", "-e", "rotate=all", timeout=PLAYBOOK_TIMEOUT)
        cluster.forget_secrets()

    def effect(self, cluster, node, before):
        still = accepted(cluster, before)
        if still:
            return None
        new = {name: cluster.secret(name) for name in before}
        refused_new = sorted(set(new) - set(accepted(cluster, new)))
        if refused_new:
            raise RuntimeError(f"rotate-secrets: the new value of {', '.join(refused_new)} is refused")
        return f"the old {', '.join(sorted(before))} are refused and the new ones accepted"

    def after_load(self, cluster, before):
        cluster.playbook("playbooks/rotate_secrets.yml", "-e", "rotate_finish=true", timeout=PLAYBOOK_TIMEOUT)
        cluster.forget_secrets()
        event = {"topic": "rotate-finish", "event_id": uuid.uuid4().hex}
        answers = {
            "the previous write token": (publish_status(cluster, event, self.old_write_token), 401),
            "the new write token": (publish_status(cluster, event, cluster.api_token("write")), 202),
        }
        return [
            f"after rotate_finish {what} got {got}, expected {expected}"
            for what, (got, expected) in answers.items()
            if got != expected
        ]

    def load_seconds(self, cluster):
        return PLAYBOOK_TIMEOUT
