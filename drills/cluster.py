"""The cluster under test, read from the Ansible inventory, and how to reach it."""

import json
import os
import pathlib
import subprocess
import urllib.error
import urllib.request
from base64 import b64encode
from dataclasses import dataclass, field

import psycopg2

REPO = pathlib.Path(__file__).resolve().parents[1]


@dataclass
class Cluster:
    nodes: dict  # name -> address
    balancer: str  # address clients use for HAProxy and the API
    api_url: str
    secrets: pathlib.Path
    lab: bool  # nodes are containers of the local lab
    inventory: str = str(REPO / "inventory" / "lab")
    network: str = "pgha_lab"
    restapi_user: str = "patroni"
    passwords: dict = field(default_factory=dict)

    @classmethod
    def from_inventory(cls, inventory):
        env = _ansible_env()
        out = subprocess.run(
            ["ansible-inventory", "-i", str(inventory), "--list"], capture_output=True, text=True, check=True, env=env
        ).stdout
        data = json.loads(out)
        postgres = _group_hosts(data, "postgres")
        balancer = _group_hosts(data, "balancers")[0]
        lab = bool(_group_hosts(data, "lab_containers"))
        secrets = pathlib.Path(os.environ.get("PGHA_SECRETS_DIR", pathlib.Path(inventory) / ".secrets"))
        addresses = _rendered(inventory, "node_address", postgres + [balancer], env)
        host = "127.0.0.1" if lab else addresses[balancer]
        return cls(
            nodes={name: addresses[name] for name in postgres},
            balancer=host,
            api_url=f"http://{host}:8080",
            secrets=secrets,
            lab=lab,
            inventory=str(inventory),
        )

    def secret(self, name):
        if name not in self.passwords:
            self.passwords[name] = (self.secrets / name).read_text().split()[0]
        return self.passwords[name]

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
        request = urllib.request.Request(f"http://{self.nodes[name]}:8008{path}", method=method)
        if body is not None:
            request.data = json.dumps(body).encode()
            token = b64encode(f"{self.restapi_user}:{self.secret('patroni_restapi')}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
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

    def leader(self):
        leaders = [m["name"] for m in self.members() if m["role"] == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def healthy(self):
        """One leader, every other member streaming, all members present."""
        members = self.members()
        leaders = [m for m in members if m["role"] == "leader" and m["state"] == "running"]
        others = [m for m in members if m["role"] != "leader"]
        return len(members) == len(self.nodes) and len(leaders) == 1 and all(m["state"] == "streaming" for m in others)

    # --- Node control (the lab's container engine) ------------------------
    def exec(self, name, *argv, timeout=30):
        if not self.lab:
            return subprocess.run(
                ["ansible", "-i", self.inventory, name, "-m", "ansible.builtin.command", "-a", " ".join(argv)],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=_ansible_env(),
            )
        return subprocess.run(["docker", "exec", name, *argv], capture_output=True, text=True, timeout=timeout)

    def docker(self, *argv):
        if not self.lab:
            raise RuntimeError("this fault needs the container lab (docker kill/network); run it on inventory/lab")
        return subprocess.run(["docker", *argv], capture_output=True, text=True, check=True, timeout=60)


def _ansible_env():
    return dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))


def _rendered(inventory, variable, hosts, env):
    """A variable as Ansible renders it for each host (inventories may template it)."""
    out = subprocess.run(
        ["ansible", "-i", str(inventory), ",".join(hosts), "-m", "ansible.builtin.debug", "-a", f"var={variable}"],
        capture_output=True,
        text=True,
        check=True,
        env=dict(env, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1"),
    ).stdout
    results = json.loads(out)["plays"][0]["tasks"][0]["hosts"]
    return {host: result[variable] for host, result in results.items()}


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
