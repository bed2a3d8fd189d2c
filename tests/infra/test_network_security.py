"""Every network port speaks TLS and wants an identity: etcd a client certificate,
Patroni's unsafe endpoints the REST password, the stats page its password; HAProxy
filters database clients by network; nothing listens beyond the expected sockets."""

import http.client
import json
import ssl
import urllib.error
import urllib.request
from base64 import b64encode

import psycopg2
import pytest
from lab import (
    ADDRESSES,
    API_PORT,
    APP_NODES,
    BACKUP_ADDRESS,
    BACKUPS,
    BALANCER_HOST,
    CA_FILE,
    CONNECTION,
    DCS,
    LEADER_VIP,
    MONITORING,
    MONITORING_ADDRESS,
    PG_NODES,
    PGBACKREST_PORT,
    PRIMARY_PORT,
    SECRETS,
    TOPOLOGY,
    VIP,
    connect,
    leader_name,
    node,
    refusal,
    run_playbook,
    secret,
    tls_context,
    wait_for,
)  # fmt: skip

from drills.dcs import etcdctl

# Docker's embedded DNS resolver listens inside every container on 127.0.0.11 (lab only).
DOCKER_DNS = "127.0.0.11"


def dcs_sockets(address, server):
    """etcd: client (also loopback) and peer ports. Consul: HTTPS API and DNS (also
    loopback), serf LAN, and on servers server RPC and serf WAN."""
    if DCS == "consul":
        ports = (8300, 8301, 8302) if server else (8301,)
        return {f"{address}:{p}" for p in (*ports, 8501, 8600)} | {"127.0.0.1:8501", "127.0.0.1:8600"}
    return {f"{address}:2379", "127.0.0.1:2379", f"{address}:2380"} if server else set()


def ssh_sockets(address):
    """sshd, where Ansible connects over SSH: on the node address only (the lab's sshd
    settings; on real VMs sshd is the operator's)."""
    return {f"{address}:22"} if CONNECTION == "ssh" else set()


def exporter_sockets(address, database=False):
    """With a monitoring group: the node exporter everywhere, the PostgreSQL exporter on
    the database nodes (node address only)."""
    if not MONITORING:
        return set()
    return {f"{address}:9100"} | ({f"{address}:9187"} if database else set())


def expected_sockets(name):
    if name in MONITORING:
        # Prometheus, Alertmanager, and the webhook receiver on loopback.
        a = MONITORING_ADDRESS
        return {f"{a}:9090", f"{a}:9093", "127.0.0.1:9095"} | exporter_sockets(a) | ssh_sockets(a)
    if name in PG_NODES:
        a = ADDRESSES[name]
        pgbackrest = {f"{a}:{PGBACKREST_PORT}"} if BACKUPS else set()
        # PostgreSQL also binds the leader VIP on every node (keepalived moves it).
        leader_vip = {f"{LEADER_VIP}:5432"} if LEADER_VIP else set()
        postgres = {f"{a}:8008", f"{a}:5432", "127.0.0.1:5432"} | leader_vip
        return postgres | dcs_sockets(a, server=True) | ssh_sockets(a) | pgbackrest | exporter_sockets(a, database=True)
    if name == "backup1":
        return {f"{BACKUP_ADDRESS}:{PGBACKREST_PORT}"} | exporter_sockets(BACKUP_ADDRESS)
    a = APP_NODES[name]
    # HAProxy (database ports, stats, liveness on loopback) and gunicorn (node and loopback).
    app = {f"{a}:{port}" for port in (5000, 5001, 7000, 8080)} | {"127.0.0.1:8080", "127.0.0.1:8405"}
    # With a VIP every balancer binds it (non-local bind) whether it holds it or not.
    vip = {f"{VIP}:{port}" for port in (5000, 5001, 8080, 8405)} if VIP else set()
    # HAProxy's Prometheus endpoint where a monitoring group scrapes it.
    metrics = {f"{a}:8404"}
    return app | vip | metrics | dcs_sockets(a, server=False) | ssh_sockets(a) | exporter_sockets(a)


@pytest.mark.parametrize("name", [*PG_NODES, *APP_NODES, *(["backup1"] if BACKUPS else []), *MONITORING])
def test_every_listening_socket_is_expected(name):
    out = node(name).check_output("ss -Hltn")
    listening = {line.split()[3] for line in out.splitlines()}
    listening = {s for s in listening if not s.startswith(DOCKER_DNS + ":")}
    assert listening == expected_sockets(name), (
        f"{name}: unexpected {sorted(listening - expected_sockets(name))}, "
        f"missing {sorted(expected_sockets(name) - listening)}"
    )


# --- etcd ----------------------------------------------------------------------------
etcd_only = pytest.mark.skipif(DCS != "etcd3", reason="etcd is not the DCS of this scenario")


def etcd_version(context, scheme="https"):
    url = f"{scheme}://{ADDRESSES['pg1']}:{TOPOLOGY.etcd_port}/version"
    with urllib.request.urlopen(url, timeout=5, context=context if scheme == "https" else None) as response:
        return json.load(response)


@etcd_only
def test_etcd_answers_a_client_with_a_certificate_from_the_ca():
    context = tls_context()
    context.load_cert_chain(SECRETS / "pki" / "pg1.crt", SECRETS / "pki" / "pg1.key")
    assert "etcdserver" in etcd_version(context)


@etcd_only
def test_etcd_refuses_a_client_without_a_certificate():
    # The TLS handshake itself fails (etcd's alert), not the connection.
    with pytest.raises(ssl.SSLError, match="ALERT_BAD_CERTIFICATE|ALERT_CERTIFICATE_REQUIRED"):
        etcd_version(tls_context())


@etcd_only
def test_etcd_refuses_plain_http():
    # etcd (listening, TLS only) drops the plain request: refused by a listener, not "nothing there".
    refusal(lambda: etcd_version(None, scheme="http"))


@etcd_only
def test_etcdctl_on_a_node_needs_the_client_certificate():
    pg1 = node("pg1")
    assert pg1.run(f"{' '.join(etcdctl(TOPOLOGY))} endpoint health").rc == 0
    tls, port = TOPOLOGY.node_tls, TOPOLOGY.etcd_port
    no_cert = f"etcdctl --cacert={tls}/ca.crt --endpoints=https://127.0.0.1:{port} --command-timeout=3s"
    result = pg1.run(f"{no_cert} endpoint health")
    assert result.rc != 0, f"expected etcd to refuse a client without a certificate: {result.stdout}"


# --- Patroni REST API ----------------------------------------------------------------
def patroni(name, path, method="GET", auth=None, scheme="https"):
    data = b"{}" if method == "POST" else None
    request = urllib.request.Request(
        f"{scheme}://{ADDRESSES[name]}:{TOPOLOGY.patroni_port}{path}", method=method, data=data
    )
    if auth:
        request.add_header("Authorization", "Basic " + b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        context = tls_context() if scheme == "https" else None
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_patroni_serves_its_health_endpoints_over_verified_https():
    assert patroni(leader_name(), "/primary") == 200


def test_patroni_refuses_plain_http():
    refusal(lambda: patroni("pg1", "/cluster", scheme="http"))


@pytest.mark.parametrize("auth", [None, ("patroni", "wrong-password")], ids=["no-credentials", "wrong-password"])
def test_an_unsafe_patroni_endpoint_needs_the_rest_credentials(auth):
    replica = next(n for n in PG_NODES if n != leader_name())
    assert patroni(replica, "/restart", method="POST", auth=auth) == 401


def test_patronictl_on_a_node_works_without_flags():
    out = node("pg1").check_output("patronictl list -f json")
    assert len(json.loads(out)) == len(PG_NODES)


# --- HAProxy -------------------------------------------------------------------------
def stats_page(password=None):
    # The stats page binds each balancer's own address (the VIP carries client ports only).
    request = urllib.request.Request(f"http://{next(iter(APP_NODES.values()))}:7000/")
    if password:
        request.add_header("Authorization", "Basic " + b64encode(f"admin:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_the_stats_page_needs_its_password():
    assert stats_page() == 401
    assert stats_page("wrong-password") == 401
    assert stats_page(secret("haproxy_stats")) == 200


def test_haproxy_turns_away_database_clients_from_other_networks():
    """With the lab network left out of the allowed list, the host's connection (from
    the lab network's gateway) is dropped before PostgreSQL sees it; restored after."""
    elsewhere = run_playbook("playbooks/balancers.yml", "-e", '{"haproxy_allowed_networks": ["10.99.0.0/24"]}')
    try:
        assert elsewhere.returncode == 0, elsewhere.stdout[-3000:]
        with pytest.raises(psycopg2.OperationalError):
            connect(BALANCER_HOST, PRIMARY_PORT).close()
    finally:
        restored = run_playbook("playbooks/balancers.yml")
    assert restored.returncode == 0, restored.stdout[-3000:]

    def connects():
        # A reloaded HAProxy routes nothing until its checks leave one primary UP (about 1 s).
        try:
            connect(BALANCER_HOST, PRIMARY_PORT).close()
            return True
        except psycopg2.OperationalError:
            return False

    assert wait_for(connects, 10), f"port {PRIMARY_PORT} refused clients after the networks were restored"


def test_the_api_serves_https_verified_against_the_ca():
    context = ssl.create_default_context(cafile=CA_FILE)
    conn = http.client.HTTPSConnection(BALANCER_HOST, API_PORT, timeout=5, context=context)
    conn.request("GET", "/health")
    assert conn.getresponse().status == 200
    plain = http.client.HTTPConnection(BALANCER_HOST, API_PORT, timeout=5)

    def plain_request():
        plain.request("GET", "/health")
        return plain.getresponse()

    refusal(plain_request)
