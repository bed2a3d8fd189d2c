"""Patroni's REST API on the members (HTTPS, verified against the deployment's CA)."""

import json
import urllib.error
import urllib.request
from base64 import b64encode

from .topology import REPO, load_plugin

# The one definition of a whole cluster and of the switchover candidate, shared with
# the playbooks (the patroni role's filter plugin is plain Python).
PATRONI_CLUSTER = load_plugin(REPO / "roles" / "patroni" / "filter_plugins" / "patroni_cluster.py")


class PatroniRest:
    """Needs `nodes`, `restapi_user`, `tls_context()` and `secret()`."""

    def patroni(self, name, path, timeout=1.0, method="GET", body=None, password=None):
        """(status, json) from a member's REST API; status None when unreachable. A call
        with a body authenticates with the deployment's password (or `password`)."""
        request = urllib.request.Request(f"https://{self.nodes[name]}:{self.patroni_port}{path}", method=method)
        if body is not None:
            request.data = json.dumps(body).encode()
            password = self.secret("patroni_restapi") if password is None else password
            token = b64encode(f"{self.restapi_user}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self.tls_context()) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as err:
            return err.code, _json(err.read())
        except OSError:
            return None, None

    def _first_answer(self, path):
        """The body of the first member answering 200 on `path` with one (None: nobody did)."""
        for name in self.nodes:
            status, body = self.patroni(name, path)
            if status == 200 and body:
                return body
        return None

    def members(self):
        """Patroni's /cluster from the first member that answers."""
        body = self._first_answer("/cluster")
        return body["members"] if body else []

    def dynamic_config(self):
        """Patroni's dynamic configuration (ttl, loop_wait, failsafe_mode...)."""
        config = self._first_answer("/config")
        if not config:
            raise RuntimeError("no Patroni member answered GET /config")
        return config

    def patch_config(self, body):
        """PATCH Patroni's dynamic configuration through the leader; raises unless it took it."""
        status, answer = self.patroni(self.leader(), "/config", timeout=10, method="PATCH", body=body)
        if status != 200:
            raise RuntimeError(f"PATCH /config {body} refused: {status} {answer}")

    def leader(self):
        leaders = [m["name"] for m in self.members() if m["role"] == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def synchronous_mode(self):
        """Patroni's dynamic synchronous_mode, from the first member that answers."""
        body = self._first_answer("/config")
        return None if body is None else bool(body.get("synchronous_mode"))  # quorum counts as on

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


def _json(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return None
