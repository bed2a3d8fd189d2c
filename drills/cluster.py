"""The cluster under test: the inventory's topology, the deployment's secrets and CA,
and one client per thing the drills talk to (nodes, PostgreSQL, Patroni, the DCS, the
front door), each in its own module."""

import os
import pathlib
import ssl
from dataclasses import dataclass
from functools import cached_property

from .dcs import DcsAccess
from .front_door import FrontDoor
from .nodes import NodeControl
from .patroni import PatroniRest
from .postgres import PostgresAccess, run_sql
from .secrets import forget, secret
from .topology import Topology


@dataclass
class Cluster(Topology, NodeControl, PostgresAccess, PatroniRest, DcsAccess, FrontDoor):
    balancer: str = ""  # address clients use for HAProxy and the API (the VIP when there is one)
    api_url: str = ""
    secrets: pathlib.Path = pathlib.Path()

    @classmethod
    def from_inventory(cls, inventory, extra_vars=None):
        topology = Topology.from_inventory(inventory, extra_vars)
        secrets = pathlib.Path(os.environ.get("PGHA_SECRETS_DIR", pathlib.Path(inventory) / ".secrets"))
        # Clients use the VIP; without one, the lab's published ports or the first balancer.
        host = topology.vip or ("127.0.0.1" if topology.lab else next(iter(topology.balancers.values())))
        return cls(**vars(topology), balancer=host, api_url=f"https://{host}:{topology.api_port}", secrets=secrets)

    def leader_sql(self, statement, params=None, dbname="postgres", timeout=2):
        """One statement on the primary, in autocommit: its rows, or None."""
        return run_sql(self.connect(self.nodes[self.leader()], timeout=timeout, dbname=dbname), statement, params)

    def problems(self):
        """What keeps the cluster from being whole: Patroni's members, then the DCS's."""
        return PatroniRest.problems(self) + self.dcs_problems()

    @property
    def restapi_user(self):
        return self.setting("patroni_restapi_username")

    @property
    def scope(self):
        """Patroni's scope: the cluster name, the restore confirmation's word."""
        return self.setting("patroni_cluster_name")

    @property
    def app_host(self):
        """The aggregator the app-restart drill restarts."""
        return self.aggregators[0]

    @property
    def monitoring_node(self):
        """The Prometheus/Alertmanager node's name ("": no monitoring group)."""
        return next(iter(self.monitoring), "")

    @property
    def monitoring_address(self):
        return next(iter(self.monitoring.values()), "")

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

    def api_token(self, scope):
        """The deployment's aggregator token of a scope (write, read, metrics)."""
        return self.secret(f"aggregator_{scope}_token")

    def secret(self, name):
        return secret(self.inventory, name)

    def forget_secrets(self):
        """The next secret() reads the inventory again (after a rotation)."""
        forget()
