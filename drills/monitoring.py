"""The deployment's Prometheus and Alertmanager, as the drills and tests read them:
HTTPS verified against the cluster CA, with the monitoring web user."""

import json
import threading
import time
import urllib.parse
import urllib.request
from base64 import b64encode
from dataclasses import dataclass, field


@dataclass
class Monitoring:
    address: str
    password: str = field(repr=False)  # never in a test's or drill's output
    context: object = None  # ssl.SSLContext trusting the cluster CA
    user: str = "pgha"  # the monitoring role's monitoring_web_username
    prometheus_port: int = 9090  # its monitoring_prometheus_port
    alertmanager_port: int = 9093  # its monitoring_alertmanager_port

    @classmethod
    def of(cls, cluster):
        """The cluster's monitoring node, or None when the inventory has none."""
        if not cluster.monitoring:
            return None
        return cls(
            cluster.monitoring_address,
            cluster.secret("monitoring_web"),
            cluster.tls_context(),
            user=cluster.setting("monitoring_web_username"),
            prometheus_port=int(cluster.setting("monitoring_prometheus_port")),
            alertmanager_port=int(cluster.setting("monitoring_alertmanager_port")),
        )

    def get(self, port, path, params=None, body=None, timeout=5):
        """GET (POST with a JSON `body`) with the web user; the answer's JSON (None
        when empty). A refusal raises urllib's HTTPError."""
        url = f"https://{self.address}:{port}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        auth = b64encode(f"{self.user}:{self.password}".encode()).decode()
        headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, headers=headers)
        with urllib.request.urlopen(request, timeout=timeout, context=self.context) as response:
            raw = response.read()
            return json.loads(raw) if raw else None

    # --- Prometheus ---------------------------------------------------------------
    def query(self, expr, at=None):
        """An instant query's result vector: [{'metric': {...}, 'value': [t, 'v']}]."""
        params = {"query": expr, **({"time": at} if at is not None else {})}
        return self.get(self.prometheus_port, "/api/v1/query", params)["data"]["result"]

    def targets(self):
        return self.get(self.prometheus_port, "/api/v1/targets", {"state": "active"})["data"]["activeTargets"]

    def leaders_between(self, start, end):
        """From Prometheus's samples of Patroni's patroni_primary: the members that were
        primary at some time in [start, end], and the most that were at once in one
        cluster (a major upgrade runs two, each with its own primary)."""
        window = f"{max(1, int(end - start))}s"
        leaders = self.query(f"max_over_time(patroni_primary[{window}]) == 1", at=end)
        at_once = self.query(f"max_over_time(max(count by (cluster) (patroni_primary == 1))[{window}:1s])", at=end)
        return {
            "leaders": sorted(r["metric"]["instance"] for r in leaders),
            "most_at_once": int(float(at_once[0]["value"][1])) if at_once else 0,
        }

    # --- Alertmanager -------------------------------------------------------------
    def firing(self):
        """Names of the alerts Alertmanager holds as active (not silenced or inhibited)."""
        alerts = self.get(self.alertmanager_port, "/api/v2/alerts", {"active": "true", "silenced": "false"})
        return sorted({a["labels"]["alertname"] for a in alerts if a["status"]["state"] == "active"})


class AlertWatch:
    """Polls Alertmanager every second and keeps, per alert name, when it became active
    and when it stopped being active (epoch seconds of the polls that saw the change)."""

    def __init__(self, monitoring, interval=1.0):
        self.monitoring, self.interval = monitoring, interval
        self.active, self.activations, self.deactivations = set(), {}, {}
        self.last_poll, self.errors = None, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.observe(self.monitoring.firing(), time.time())
            except OSError:
                self.errors += 1
            self._stop.wait(self.interval)

    def observe(self, names, now):
        """One poll's answer: the alert names active at `now`."""
        names = set(names)
        for name in names - self.active:
            self.activations.setdefault(name, []).append(now)
        for name in self.active - names:
            self.deactivations.setdefault(name, []).append(now)
        self.active, self.last_poll = names, now

    def quiet(self, names):
        """A poll answered and none of `names` was active."""
        return self.last_poll is not None and not self.active & set(names)

    def _fired_at(self, name, since):
        return next((t for t in self.activations.get(name, []) if t >= since), None)

    def _resolved_at(self, name, since):
        fired = self._fired_at(name, since)
        return None if fired is None else next((t for t in self.deactivations.get(name, []) if t > fired), None)

    def fired(self, names, since):
        """Every name became active at or after `since`."""
        return all(self._fired_at(n, since) is not None for n in names)

    def resolved(self, names, since):
        """Every name became active at or after `since` and later stopped."""
        return all(self._resolved_at(n, since) is not None for n in names)

    def summary(self, names, fault_time, heal_time):
        """Per expected alert: seconds from the fault to firing, and from the heal to
        resolved (None: it never fired / never resolved)."""
        out = {}
        for n in names:
            fired, resolved = self._fired_at(n, fault_time), self._resolved_at(n, fault_time)
            out[n] = {
                "fired_after_s": None if fired is None else round(fired - fault_time, 1),
                "resolved_after_heal_s": None if resolved is None else round(max(0.0, resolved - heal_time), 1),
            }
        return out
