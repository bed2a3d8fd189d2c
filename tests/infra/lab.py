"""Helpers for the testinfra suite: reach the lab nodes, the secrets and PostgreSQL."""

import functools
import http.client
import json
import os
import pathlib
import re
import ssl
import subprocess
import urllib.error
import urllib.request

import psycopg2
import testinfra

from drills.cluster import Cluster
from drills.polling import wait_until
from drills.postgres import run_sql
from drills.secrets import secret as rendered_secret
from drills.topology import Topology

REPO = pathlib.Path(__file__).resolve().parents[2]
INVENTORY = pathlib.Path(os.environ.get("PGHA_INVENTORY", REPO / "inventory" / "lab"))
SECRETS = pathlib.Path(os.environ.get("PGHA_SECRETS_DIR", INVENTORY / ".secrets"))
# Every address, group and the DCS come from the scenario's inventory, as Ansible reads it.
TOPOLOGY = Topology.from_inventory(INVENTORY)
DCS = TOPOLOGY.dcs
# The ports, as the inventory (or the roles' defaults) sets them.
PRIMARY_PORT, REPLICA_PORT = TOPOLOGY.primary_port, TOPOLOGY.replica_port
PGBACKREST_PORT, API_PORT = TOPOLOGY.pgbackrest_port, TOPOLOGY.api_port
# How Ansible reaches the nodes: the container engine, or SSH (molecule/consul).
CONNECTION = os.environ.get("PGHA_CONNECTION", "docker")

# Every network connection to PostgreSQL is TLS, checked against the generated CA.
TLS = {"sslmode": "verify-full", "sslrootcert": str(SECRETS / "pki" / "ca.crt")}

PG_NODES = list(TOPOLOGY.nodes)
ADDRESSES = TOPOLOGY.nodes
# The HAProxy nodes (each also runs an aggregator in the lab inventories) and the first of them.
APP_NODES = TOPOLOGY.balancers
BALANCERS = list(APP_NODES)
APP_ADDRESS = next(iter(APP_NODES.values()))
# The pgBackRest repository (inventory/lab has backup1; the production path has none).
BACKUPS = bool(TOPOLOGY.backups)
BACKUP_ADDRESS = next(iter(TOPOLOGY.backups.values()), None)
# The Prometheus/Alertmanager node (inventory/lab has mon1; empty without the group).
MONITORING = list(TOPOLOGY.monitoring)
MONITORING_ADDRESS = next(iter(TOPOLOGY.monitoring.values()), None)
# pgha_vip (keepalived, on a balancer) and pgha_leader_vip (on the Patroni leader); "" when not set.
VIP, LEADER_VIP = TOPOLOGY.vip, TOPOLOGY.leader_vip
# Clients reach HAProxy and the API at the VIP; without one through app1's published ports.
BALANCER_HOST = VIP or "127.0.0.1"
API = f"https://{BALANCER_HOST}:{API_PORT}"
# The generated CA, as clients of the API, the REST API and PostgreSQL use it.
CA_FILE = str(SECRETS / "pki" / "ca.crt")


def node(name):
    # Through the container engine: the harness's own way in, whatever connection the
    # scenario's inventory gives Ansible (molecule/consul converges over SSH).
    return testinfra.get_host(f"docker://{name}")


def secret(name):
    """A secret as Ansible renders it from the inventory (generated files or a vault)."""
    return rendered_secret(INVENTORY, name)


def connect(host, port, user="postgres", password=None, dbname="postgres"):
    if password is None:
        password = secret("postgres_superuser")
    return psycopg2.connect(host=host, port=port, user=user, password=password, dbname=dbname, connect_timeout=5, **TLS)


def query(host, port, sql, params=None, **kwargs):
    return run_sql(connect(host, port, **kwargs), sql, params)


def refusal(call):
    """The error `call` raised, once sure a listening server refused it: an HTTP error
    status, a TLS alert, or the server dropping the connection after the request. A
    refused connection or a timeout (the service is down, or not there) fails the test:
    a check that passes on any error passes when nothing listens."""
    try:
        call()
    except urllib.error.HTTPError as err:
        return err
    except urllib.error.URLError as err:
        reason = err.reason
        if isinstance(reason, ssl.SSLError | ConnectionResetError | ConnectionAbortedError):
            return reason
        raise AssertionError(f"expected the service to refuse, nothing answered: {reason!r}") from err
    except (
        ssl.SSLError,
        http.client.RemoteDisconnected,
        ConnectionResetError,
        ConnectionAbortedError,
        BrokenPipeError,
    ) as err:
        return err
    except OSError as err:  # refused, timed out, unreachable
        raise AssertionError(f"expected the service to refuse, nothing answered: {err!r}") from err
    raise AssertionError("expected a refusal, the request succeeded")


def data_directory(name):
    """The node's data directory, as its PostgreSQL reports it."""
    return query(ADDRESSES[name], TOPOLOGY.postgres_port, "SHOW data_directory")[0][0]


def cluster():
    """Patroni's view, as `patronictl list -f json` prints it on pg1."""
    out = node("pg1").check_output("patronictl list -f json")
    return json.loads(out)


def leader_name():
    leaders = [m["Member"] for m in cluster() if m["Role"] == "Leader"]
    assert len(leaders) == 1, f"expected exactly one Leader, found {leaders}"
    return leaders[0]


@functools.cache
def drills_cluster():
    """The drills' view of the cluster (the DCS, its leader, Patroni's key), read from the
    scenario's inventory on first use."""
    return Cluster.from_inventory(INVENTORY)


def dcs_leader_node():
    """The database node whose DCS server leads raft (None during an election)."""
    try:
        return drills_cluster().dcs_leader_node()
    except (RuntimeError, StopIteration):
        return None


def wait_for(predicate, timeout):
    return wait_until(predicate, timeout, interval=0.25)


def assert_service_up(name, service):
    unit = node(name).service(service)
    assert unit.is_running, f"{service} on {name}: expected running, found stopped"
    assert unit.is_enabled, f"{service} on {name}: expected enabled, found disabled"


def run_playbook(playbook, *args, timeout=900, **env):
    """ansible-playbook on the lab inventory with the project's configuration; returns
    the CompletedProcess (stdout and stderr as text)."""
    return subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), str(REPO / playbook), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        # Molecule exports ANSIBLE_FORCE_COLOR; the tests read plain text.
        env=dict(
            os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", **env
        ),
    )


def recap(run, host):
    """The PLAY RECAP line of one host, without colour codes."""
    lines = re.sub(r"\x1b\[[0-9;]*m", "", run.stdout).split("PLAY RECAP")[-1].splitlines()
    return next(line for line in lines if line.startswith(host))


def tls_context():
    return ssl.create_default_context(cafile=CA_FILE)


def call(method, path, body=None, token=None):
    """A request with the deployment's token for the path (write for /publish, else read)."""
    if token is None:
        token = secret("aggregator_write_token" if path == "/publish" else "aggregator_read_token")
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    request = urllib.request.Request(API + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30, context=tls_context()) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)
