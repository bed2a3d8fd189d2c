"""The cluster under test, read from the Ansible inventory, and how to reach it."""

import importlib.util
import json
import os
import pathlib
import ssl
import subprocess
import urllib.error
import urllib.request
from base64 import b64decode, b64encode
from dataclasses import dataclass, field
from functools import cached_property

import psycopg2

from drills.secrets import ansible_env, rendered, secret

REPO = pathlib.Path(__file__).resolve().parents[1]


def _load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The one definition of a whole cluster and of the switchover candidate, shared with
# the playbooks (the patroni role's filter plugin is plain Python).
PATRONI_CLUSTER = _load(REPO / "roles" / "patroni" / "filter_plugins" / "patroni_cluster.py")
ETCD_CLIENT_PORT = 2379
CONSUL_HTTPS_PORT = 8501
PATRONI_PORT = 8008
API_PORT = 8080
# Where the pki role puts the CA, the node's certificate and key on every node.
NODE_TLS = "/etc/pgha/tls"


def run_sql(conn, statement, params=None):
    """One statement in autocommit on `conn`, which is closed after: its rows, or None."""
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def etcdctl(address="127.0.0.1"):
    """etcdctl on a node, talking to the member at `address` with the node's client
    certificate (etcd refuses clients without one)."""
    return (
        "etcdctl",
        f"--cacert={NODE_TLS}/ca.crt",
        f"--cert={NODE_TLS}/node.crt",
        f"--key={NODE_TLS}/node.key",
        f"--endpoints=https://{address}:{ETCD_CLIENT_PORT}",
    )


def vip_check(vip):
    """The command that prints the VIP's line when the node's interface carries it."""
    return ("ip", "-4", "-o", "addr", "show", "to", f"{vip}/32")


class CommandFailed(RuntimeError):
    """A fault or heal command did not do what it was asked: the command and its stderr."""

    def __init__(self, argv, result):
        self.argv, self.returncode = list(argv), result.returncode
        # Commands report on stderr; ansible-playbook names the failed task on stdout.
        detail = " ".join(part.strip()[-500:] for part in (result.stderr, result.stdout) if part and part.strip())
        super().__init__(f"`{' '.join(map(str, argv))}` exited {result.returncode}: {detail}")


@dataclass
class Cluster:
    nodes: dict  # name -> address
    balancer: str  # address clients use for HAProxy and the API (the VIP when there is one)
    api_url: str
    app_host: str  # the aggregator's host (app-restart drill)
    secrets: pathlib.Path
    lab: bool  # nodes are containers of the local lab
    vip: str = ""  # pgha_vip: the address keepalived keeps on one balancer
    balancers: dict = field(default_factory=dict)  # name -> address of the HAProxy nodes
    aggregators: list = field(default_factory=list)  # the aggregator hosts
    monitoring: str = ""  # address of the Prometheus/Alertmanager node ("": no monitoring group)
    monitoring_node: str = ""  # its inventory name
    inventory: str = str(REPO / "inventory" / "lab")
    network: str = "pgha_lab"
    restapi_user: str = "patroni"
    dcs: str = "etcd3"  # patroni_dcs: etcd3 or consul; its servers are the database nodes
    scope: str = "pgha"

    @classmethod
    def from_inventory(cls, inventory):
        env = ansible_env()
        out = subprocess.run(
            ["ansible-inventory", "-i", str(inventory), "--list"], capture_output=True, text=True, check=True, env=env
        ).stdout
        data = json.loads(out)
        postgres = _group_hosts(data, "postgres")
        balancers = _group_hosts(data, "balancers")
        aggregators = _group_hosts(data, "aggregator")
        monitoring = _group_hosts(data, "monitoring")[:1]
        lab = bool(_group_hosts(data, "lab_containers"))
        secrets = pathlib.Path(os.environ.get("PGHA_SECRETS_DIR", pathlib.Path(inventory) / ".secrets"))
        found = rendered(inventory, postgres + balancers + monitoring, "[node_address, pgha_vip | default('')]")
        addresses = {name: address for name, (address, _) in found.items()}
        vip = found[balancers[0]][1]
        dcs = data.get("_meta", {}).get("hostvars", {}).get(postgres[0], {}).get("patroni_dcs", "etcd3")
        # Clients use the VIP; without one, the lab's published ports or the first balancer.
        host = vip or ("127.0.0.1" if lab else addresses[balancers[0]])
        return cls(
            nodes={name: addresses[name] for name in postgres},
            balancer=host,
            api_url=f"https://{host}:{API_PORT}",
            app_host=aggregators[0],
            secrets=secrets,
            lab=lab,
            inventory=str(inventory),
            dcs=dcs,
            vip=vip,
            balancers={name: addresses[name] for name in balancers},
            aggregators=aggregators,
            monitoring=addresses[monitoring[0]] if monitoring else "",
            monitoring_node=monitoring[0] if monitoring else "",
        )

    @property
    def ca_file(self):
        """The deployment's CA certificate (every API, REST and database certificate)."""
        return str(self.secrets / "pki" / "ca.crt")

    def tls_context(self):
        """One context for every verified call: the probes call many times a second."""
        return self._tls

    @cached_property
    def _tls(self):
        return ssl.create_default_context(cafile=self.ca_file)

    @cached_property
    def _etcd_client_tls(self):
        """The CA plus a node's client certificate (etcd refuses clients without one)."""
        first = next(iter(self.nodes))
        context = ssl.create_default_context(cafile=self.ca_file)
        context.load_cert_chain(self.secrets / "pki" / f"{first}.crt", self.secrets / "pki" / f"{first}.key")
        return context

    @cached_property
    def _consul_clients(self):
        """A py-consul client per node's agent, with Patroni's token (Consul only)."""
        import consul  # py-consul (the maintained python-consul); only needed on Consul

        first = next(iter(self.nodes))
        cert = (str(self.secrets / "pki" / f"{first}.crt"), str(self.secrets / "pki" / f"{first}.key"))
        return {
            address: consul.Consul(
                host=address,
                port=CONSUL_HTTPS_PORT,
                scheme="https",
                verify=self.ca_file,
                cert=cert,
                token=self.consul_token(),
            )  # fmt: skip
            for address in self.nodes.values()
        }

    def api_token(self, scope):
        """The deployment's aggregator token of a scope (write, read, metrics)."""
        return self.secret(f"aggregator_{scope}_token")

    def secret(self, name):
        return secret(self.inventory, name)

    # --- PostgreSQL -------------------------------------------------------
    def connect(self, address, port=5432, timeout=2, dbname="aggregator"):
        return psycopg2.connect(
            host=address,
            port=port,
            user="postgres",
            password=self.secret("postgres_superuser"),
            dbname=dbname,
            connect_timeout=timeout,
            application_name="drill",
            sslmode="verify-full",
            sslrootcert=self.ca_file,
            # A peer cut off the network never answers: give up on unacknowledged data
            # after half a second instead of the kernel's minutes of retransmissions.
            tcp_user_timeout=500,
            keepalives=1,
            keepalives_idle=1,
            keepalives_interval=1,
            keepalives_count=2,
        )

    # --- Patroni REST -----------------------------------------------------
    def patroni(self, name, path, timeout=1.0, method="GET", body=None):
        """(status, json) from a member's REST API; status None when unreachable."""
        request = urllib.request.Request(f"https://{self.nodes[name]}:{PATRONI_PORT}{path}", method=method)
        if body is not None:
            request.data = json.dumps(body).encode()
            token = b64encode(f"{self.restapi_user}:{self.secret('patroni_restapi')}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self.tls_context()) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as err:
            return err.code, _json(err.read())
        except OSError:
            return None, None

    def members(self):
        """Patroni's /cluster from the first member that answers."""
        for name in self.nodes:
            status, body = self.patroni(name, "/cluster")
            if status == 200 and body:
                return body["members"]
        return []

    def dynamic_config(self):
        """Patroni's dynamic configuration (ttl, loop_wait, failsafe_mode...)."""
        for name in self.nodes:
            status, config = self.patroni(name, "/config")
            if status == 200 and config:
                return config
        raise RuntimeError("no Patroni member answered GET /config")

    def leader(self):
        leaders = [m["name"] for m in self.members() if m["role"] == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def synchronous_mode(self):
        """Patroni's dynamic synchronous_mode, from the first member that answers."""
        for name in self.nodes:
            status, body = self.patroni(name, "/config")
            if status == 200 and body is not None:
                return bool(body.get("synchronous_mode"))
        return None

    def problems(self):
        """What keeps the cluster from being whole ([] when it is): every member present,
        one running leader, the others streaming, a synchronous standby in synchronous mode."""
        cluster = {"members": self.members()}
        return PATRONI_CLUSTER.patroni_cluster_problems(cluster, list(self.nodes), self.synchronous_mode())

    def healthy(self):
        return not self.problems()

    def switchover_candidate(self):
        """The synchronous standby, else the first streaming replica (Patroni's own preference)."""
        return PATRONI_CLUSTER.patroni_switchover_candidate({"members": self.members()}) or None

    def data_directory(self, name):
        """The data directory as the node's PostgreSQL reports it (PostgreSQL 15 or 16)."""
        conn = self.connect(self.nodes[name], dbname="postgres")
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW data_directory")
                return cur.fetchone()[0]
        finally:
            conn.close()

    # --- What a fault did, seen from outside ---------------------------------
    def container_running(self, name):
        return self.docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "true"

    def unit_state(self, name, unit):
        """systemd's ActiveState and MainPID of a unit."""
        out = self.exec(name, "systemctl", "show", "-p", "ActiveState", "-p", "MainPID", unit).stdout
        props = dict(line.split("=", 1) for line in out.split() if "=" in line)
        return props.get("ActiveState"), int(props.get("MainPID", "0"))

    def reachable_from(self, peer, name, port=PATRONI_PORT):
        """Whether `peer` opens a TCP connection to `name` within a second."""
        probe = f"import socket; socket.create_connection(('{self.nodes[name]}', {port}), timeout=1).close()"
        return self.exec(peer, "python3", "-c", probe, check=False).returncode == 0

    # --- The front door: the VIP on the balancers -----------------------------
    def vip_holders(self):
        """The balancers whose interface carries the VIP now (a stopped one holds nothing)."""
        holders = []
        for name in self.balancers:
            out = self.exec(name, *vip_check(self.vip), check=False)
            if out.returncode == 0 and out.stdout.strip():
                holders.append(name)
        return holders

    def api_servers(self, balancer):
        """{aggregator: status} of the API backend as `balancer`'s HAProxy sees it."""
        out = self.exec(balancer, "haproxy-admin", "show stat").stdout
        rows = [line.split(",") for line in out.splitlines() if line.startswith("aggregators,")]
        return {r[1]: r[17] for r in rows if r[1] not in ("FRONTEND", "BACKEND")}

    # --- The DCS (etcd or Consul; its servers run on the database nodes) ---------
    @property
    def dcs_unit(self):
        return "consul" if self.dcs == "consul" else "etcd"

    def dcs_server_healthy(self, peer, name):
        """Whether `name`'s DCS server answers as part of a quorum, asked from `peer`:
        etcd's endpoint health, or Consul's /v1/status/leader naming a leader."""
        if self.dcs == "consul":
            return self.consul_leader_address(via=peer, ask=name) is not None
        argv = (*etcdctl(self.nodes[name]), "--command-timeout=2s", "endpoint", "health")
        return self.exec(peer, *argv, check=False).returncode == 0

    def dcs_leader_node(self):
        """The node whose DCS server is the DCS's own (raft) leader."""
        if self.dcs == "consul":
            address = self.consul_leader_address()
        else:
            first = next(iter(self.nodes))
            out = self.exec(first, *etcdctl(), "endpoint", "status", "--cluster", "--write-out=json").stdout
            leaders = [s for s in json.loads(out) if s["Status"]["leader"] == s["Status"]["header"]["member_id"]]
            address = leaders[0]["Endpoint"].split("//")[1].split(":")[0] if leaders else None
        if address is None:
            raise RuntimeError(f"{self.dcs} reports no leader")
        return next(n for n, a in self.nodes.items() if a == address)

    def consul_leader_address(self, via=None, ask=None):
        """Address of Consul's raft leader as the agent on `ask` reports it (None: none)."""
        ask = ask or next(iter(self.nodes))
        url = f"https://{self.nodes[ask]}:{CONSUL_HTTPS_PORT}/v1/status/leader"
        if via is None:
            try:
                with urllib.request.urlopen(url, timeout=2, context=self.tls_context()) as response:
                    leader = json.load(response)
            except (OSError, ValueError):
                return None
        else:
            probe = (
                "import json, ssl, sys, urllib.request; "
                f"c = ssl.create_default_context(cafile='{NODE_TLS}/ca.crt'); "
                f"print(json.load(urllib.request.urlopen('{url}', timeout=2, context=c)))"
            )
            out = self.exec(via, "python3", "-c", probe, check=False)
            leader = out.stdout.strip() if out.returncode == 0 else ""
        return leader.rsplit(":", 1)[0] if leader else None  # "address:8300", or "" without a leader

    def leader_key_holder(self):
        """The member named in Patroni's leader key in the DCS (None: no key, or the DCS
        does not answer): etcd's v3 API with a client certificate, or the consul module."""
        key = f"/service/{self.scope}/leader"
        for address in self.nodes.values():
            try:
                if self.dcs == "consul":
                    return self._consul_kv(address, key.lstrip("/"))
                return self._etcd_kv(address, key)
            except (OSError, ValueError, KeyError, RuntimeError):
                continue
        return None

    def _etcd_kv(self, address, key):
        body = json.dumps({"key": b64encode(key.encode()).decode()}).encode()
        request = urllib.request.Request(f"https://{address}:{ETCD_CLIENT_PORT}/v3/kv/range", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=0.5, context=self._etcd_client_tls) as response:
            kvs = json.load(response).get("kvs", [])
        return b64decode(kvs[0]["value"]).decode() if kvs else None

    def _consul_kv(self, address, key):
        import consul

        try:
            _, item = self._consul_clients[address].kv.get(key)
        except consul.ConsulException as exc:  # no leader, permission denied, ...
            raise RuntimeError(str(exc)) from exc
        return item["Value"].decode() if item and item.get("Value") else None

    def consul_token(self):
        """Patroni's Consul token, as the inventory gives it to Patroni."""
        return self.secret("consul_acl_patroni")

    # --- Node control (the lab's container engine) ------------------------
    def exec(self, name, *argv, timeout=30, check=True):
        """Run a command on a node; a non-zero exit raises CommandFailed unless check=False."""
        if self.lab:
            cmd = ["docker", "exec", name, *argv]
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        else:
            cmd = ["ansible", "-i", self.inventory, name, "-m", "ansible.builtin.command", "-a", " ".join(argv)]
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ansible_env())
        if check and result.returncode != 0:
            raise CommandFailed(argv, result)
        return result

    def playbook(self, playbook, *argv, timeout=600):
        """Run one of the project's playbooks against this inventory (output captured:
        it is returned in CommandFailed when the play fails)."""
        cmd = ["ansible-playbook", "-i", self.inventory, str(REPO / playbook), *argv]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=ansible_env())
        if result.returncode != 0:
            raise CommandFailed(cmd, result)
        return result

    def docker(self, *argv):
        if not self.lab:
            raise RuntimeError("this fault needs the container lab (docker kill/network); run it on inventory/lab")
        result = subprocess.run(["docker", *argv], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise CommandFailed(["docker", *argv], result)
        return result


def _group_hosts(data, group):
    hosts = list(data.get(group, {}).get("hosts", []))
    for child in data.get(group, {}).get("children", []):
        hosts += _group_hosts(data, child)
    return hosts


def _json(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return None
