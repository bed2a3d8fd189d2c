"""The DCS (etcd or Consul, its servers on the database nodes): its health, its own
raft leader, and Patroni's leader key in it."""

import json
import ssl
import urllib.request
from base64 import b64decode, b64encode
from functools import cached_property


def etcdctl(topology, address="127.0.0.1"):
    """etcdctl on a node, talking to the member at `address` with the node's client
    certificate (etcd refuses clients without one)."""
    tls = topology.node_tls
    return (
        "etcdctl",
        f"--cacert={tls}/ca.crt",
        f"--cert={tls}/node.crt",
        f"--key={tls}/node.key",
        f"--endpoints=https://{address}:{topology.etcd_port}",
    )


class DcsAccess:
    """Needs `dcs`, `scope`, `nodes`, `secrets`, `ca_file`, `tls_context()`, `secret()`
    and `exec()`."""

    @property
    def dcs_unit(self):
        return "consul" if self.dcs == "consul" else "etcd"

    @cached_property
    def _client_certificate(self):
        """A database node's certificate and key: etcd and Consul want a client certificate."""
        first = next(iter(self.nodes))
        return str(self.secrets / "pki" / f"{first}.crt"), str(self.secrets / "pki" / f"{first}.key")

    @cached_property
    def _etcd_client_tls(self):
        context = ssl.create_default_context(cafile=self.ca_file)
        context.load_cert_chain(*self._client_certificate)
        return context

    @cached_property
    def _consul_clients(self):
        """A py-consul client per node's agent, with Patroni's token (Consul only)."""
        import consul  # py-consul (the maintained python-consul); only needed on Consul

        return {
            address: consul.Consul(
                host=address,
                port=self.consul_port,
                scheme="https",
                verify=self.ca_file,
                cert=self._client_certificate,
                token=self.consul_token(),
                connections_timeout=0.3,
            )  # fmt: skip
            for address in self.nodes.values()
        }

    def consul_token(self):
        """Patroni's Consul token, as the inventory gives it to Patroni."""
        return self.secret("consul_acl_patroni")

    def dcs_server_healthy(self, peer, name):
        """Whether `name`'s DCS server answers as part of a quorum, asked from `peer`:
        etcd's endpoint health, or Consul's /v1/status/leader naming a leader."""
        if self.dcs == "consul":
            return self.consul_leader_address(via=peer, ask=name) is not None
        # Exits 0 either way: a failed exec into `peer` raises, it never reads as "down".
        command = " ".join((*etcdctl(self, self.nodes[name]), "--command-timeout=2s", "endpoint", "health"))
        answer = self.exec(peer, "sh", "-c", f"{command} >/dev/null 2>&1 && echo healthy || echo down").stdout
        return answer.strip() == "healthy"

    def dcs_leader_node(self):
        """The node whose DCS server is the DCS's own (raft) leader."""
        if self.dcs == "consul":
            address = self.consul_leader_address()
        else:
            first = next(iter(self.nodes))
            out = self.exec(first, *etcdctl(self), "endpoint", "status", "--cluster", "--write-out=json").stdout
            # During an election a status carries no leader field (etcd leaves a zero id out).
            statuses = json.loads(out)
            leaders = [s for s in statuses if s["Status"].get("leader") == s["Status"]["header"]["member_id"]]
            address = leaders[0]["Endpoint"].split("//")[1].split(":")[0] if leaders else None
        if address is None:
            raise RuntimeError(f"{self.dcs} reports no leader")
        return next(n for n, a in self.nodes.items() if a == address)

    def dcs_member_id(self, name):
        """The identity `name`'s DCS server has in its cluster (None: not a member): its
        etcd member ID, or its Consul node ID (in its data directory). A server rebuilt
        without its data comes back under a new one."""
        if self.dcs == "consul":
            found = self.exec(name, "cat", f"{self.setting('consul_data_dir')}/node-id", check=False)
            return found.stdout.strip() or None
        first = next(n for n in self.nodes if n != name)
        out = self.exec(first, *etcdctl(self, self.nodes[first]), "member", "list", "--write-out=json").stdout
        return next((f"{m['ID']:x}" for m in json.loads(out)["members"] if m.get("name") == name), None)

    def dcs_problems(self):
        """What keeps the DCS from being whole ([]: nothing). On Consul: every database
        node's server a voter. A server back from a crash that autopilot pruned rejoins
        as a non-voter until it is promoted (after its stabilization time): a fault on a
        voter meanwhile leaves no quorum. etcd members rejoin as voters."""
        if self.dcs != "consul":
            return []
        headers = {"X-Consul-Token": self.secret("consul_acl_master")}
        for address in self.nodes.values():
            url = f"https://{address}:{self.consul_port}/v1/operator/raft/configuration"
            try:
                request = urllib.request.Request(url, headers=headers)
                with urllib.request.urlopen(request, timeout=2, context=self.tls_context()) as response:
                    servers = json.load(response)["Servers"]
                break
            except (OSError, ValueError, KeyError):
                continue
        else:
            return ["no Consul server answered for its raft configuration"]
        voters = {server["Address"].rsplit(":", 1)[0] for server in servers if server.get("Voter")}
        missing = [name for name, address in self.nodes.items() if address not in voters]
        return [f"Consul server of {', '.join(missing)} not a raft voter (yet)"] if missing else []

    def consul_leader_address(self, via=None, ask=None):
        """Address of Consul's raft leader as the agent on `ask` reports it (None: none)."""
        ask = ask or next(iter(self.nodes))
        url = f"https://{self.nodes[ask]}:{self.consul_port}/v1/status/leader"
        if via is None:
            try:
                with urllib.request.urlopen(url, timeout=2, context=self.tls_context()) as response:
                    leader = json.load(response)
            except (OSError, ValueError):
                return None
        else:
            # Prints "" when the agent does not answer; a failed exec into `via` raises.
            probe = (
                "import json, ssl, urllib.request\n"
                f"c = ssl.create_default_context(cafile='{self.node_tls}/ca.crt')\n"
                f"try:\n    print(json.load(urllib.request.urlopen('{url}', timeout=2, context=c)))\n"
                "except (OSError, ValueError):\n    print('')"
            )
            leader = self.exec(via, "python3", "-c", probe).stdout.strip()
        return leader.rsplit(":", 1)[0] if leader else None  # "address:8300", or "" without a leader

    def leader_key_holder(self):
        """The member named in Patroni's leader key in the DCS (None: no key, or the DCS
        does not answer)."""
        try:
            return self.leader_key_reading()
        except RuntimeError:
            return None

    def leader_key_reading(self):
        """The member named in Patroni's leader key (None: no key), from the first DCS
        member that answers, the one that answered last time first: etcd's v3 API with a
        client certificate, or the consul module. RuntimeError when none answers."""
        key = f"{self.setting('patroni_namespace')}{self.scope}/leader"
        addresses = sorted(self.nodes.values(), key=lambda a: a != getattr(self, "_dcs_answered", None))
        for address in addresses:
            try:
                holder = (
                    self._consul_kv(address, key.lstrip("/")) if self.dcs == "consul" else self._etcd_kv(address, key)
                )
            except (OSError, ValueError, KeyError, RuntimeError):
                continue
            self._dcs_answered = address
            return holder
        raise RuntimeError(f"no {self.dcs} member answered for {key}")

    def _etcd_kv(self, address, key):
        body = json.dumps({"key": b64encode(key.encode()).decode()}).encode()
        request = urllib.request.Request(f"https://{address}:{self.etcd_port}/v3/kv/range", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=0.3, context=self._etcd_client_tls) as response:
            kvs = json.load(response).get("kvs", [])
        return b64decode(kvs[0]["value"]).decode() if kvs else None

    def _consul_kv(self, address, key):
        import consul

        try:
            _, item = self._consul_clients[address].kv.get(key)
        except consul.ConsulException as exc:  # no leader, permission denied, ...
            raise RuntimeError(str(exc)) from exc
        return item["Value"].decode() if item and item.get("Value") else None
