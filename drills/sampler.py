"""Samples every PostgreSQL node, Patroni, HAProxy's primary port and which balancers
hold the VIP every 200 ms.

Each node has its own probe loop, so a node that hangs (cut off, crashed) never
delays the others; a probe result older than STALE seconds counts as unknown.
"""

import socket
import subprocess
import threading
import time

import psycopg2

from .front_door import vip_check
from .topology import NODE_TLS, PATRONI_PORT

INTERVAL = 0.2
STALE = 1.5
# A "would accept writes" reading older than this is unknown: overlap between two
# nodes is only claimed for readings taken at (nearly) the same time.
WRITABLE_FRESH = 0.5
PROBE = "SELECT pg_is_in_recovery(), (SELECT timeline_id FROM pg_control_checkpoint())"
UNKNOWN = {
    "reachable": None,
    "writable": None,
    "timeline": None,
    "via": "stale",
    "primary_api": None,
    "replica_api": None,
}


# Run inside a node when it cannot be reached over the network: recovery state,
# timeline and Patroni's /primary and /replica answers, in one exec. Patroni's REST API
# listens on the node address only: while the node is cut off its interface is gone and
# the answers are unknown (None); PostgreSQL is still read over the local socket.
INSIDE = """
import ssl, subprocess, sys, urllib.error, urllib.request
sql = "SELECT pg_is_in_recovery(), (SELECT timeline_id FROM pg_control_checkpoint())"
context = ssl.create_default_context(cafile=sys.argv[2])
def status(path):
    try:
        return urllib.request.urlopen(sys.argv[1] + path, timeout=0.3, context=context).status
    except urllib.error.HTTPError as err:
        return err.code
    except Exception:
        return None
primary, replica = status("/primary"), status("/replica")
# Last, so the caller's timestamp is closest to this reading.
pg = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-XAtF,", "-c", sql], capture_output=True, text=True)
print(pg.stdout.strip() if pg.returncode == 0 else "", primary, replica, sep="|")
"""


class Probe(threading.Thread):
    """Polls one thing every INTERVAL in its own thread, so a hung peer delays only itself."""

    def __init__(self, cluster, stop_event):
        super().__init__(daemon=True)
        self.cluster, self.stop_event = cluster, stop_event
        self.conn = None
        self.latest = None

    def run(self):
        while not self.stop_event.is_set():
            started = time.time()
            self.latest = self.poll()
            self.stop_event.wait(max(0.0, INTERVAL - (time.time() - started)))
        if self.conn is not None:
            self.conn.close()

    def poll(self):
        raise NotImplementedError


class NodeProbe(Probe):
    """Probes one node in a loop over TCP; a node that cannot be reached (cut off from
    the network) is probed from inside through the container engine, so an isolated
    primary is still seen."""

    def __init__(self, cluster, name, stop_event):
        super().__init__(cluster, stop_event)
        self.name = name
        self.inside = False  # probing through the container engine

    def poll(self):
        if self.inside and self._port_open():
            self.inside = False
        result = self._sample_inside() if self.inside else self._sample_tcp()
        result["at"] = time.time()
        return result

    def snapshot(self, now):
        latest = self.latest
        if latest is None or now - latest["at"] > STALE:
            return dict(UNKNOWN)
        result = {k: v for k, v in latest.items() if k not in ("at", "pg_at")}
        if now - latest.get("pg_at", 0.0) > WRITABLE_FRESH:
            result["writable"] = None
        return result

    def _port_open(self):
        try:
            with socket.create_connection((self.cluster.nodes[self.name], 5432), timeout=0.2):
                return True
        except OSError:
            return False

    def _sample_tcp(self):
        try:
            if self.conn is None or self.conn.closed:
                self.conn = self.cluster.connect(self.cluster.nodes[self.name], timeout=1, dbname="postgres")
                self.conn.autocommit = True
            with self.conn.cursor() as cur:
                cur.execute(PROBE)
                in_recovery, timeline = cur.fetchone()
            pg_at = time.time()
            return {
                "reachable": True,
                "writable": not in_recovery,
                "timeline": timeline,
                "via": "tcp",
                "pg_at": pg_at,
                "primary_api": self.cluster.patroni(self.name, "/primary", timeout=0.3)[0],
                "replica_api": self.cluster.patroni(self.name, "/replica", timeout=0.3)[0],
            }
        except psycopg2.Error:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            self.inside = self.cluster.lab
        return self._sample_inside()

    def _sample_inside(self):
        unreachable = {
            "reachable": False,
            "writable": None,
            "timeline": None,
            "via": "none",
            "primary_api": None,
            "replica_api": None,
        }
        if not self.cluster.lab:
            return unreachable
        try:
            patroni = f"https://{self.cluster.nodes[self.name]}:{PATRONI_PORT}"
            ca = f"{NODE_TLS}/ca.crt"
            out = self.cluster.exec(self.name, "python3", "-c", INSIDE, patroni, ca, timeout=2, check=False)
        except Exception:  # container stopped or exec timed out
            return unreachable
        pg_at = time.time()
        if out.returncode != 0 or out.stdout.count("|") != 2:
            return unreachable
        pg, primary, replica = out.stdout.strip().split("|")
        api = {
            "primary_api": None if primary == "None" else int(primary),
            "replica_api": None if replica == "None" else int(replica),
        }
        if "," not in pg:
            return {**unreachable, **api, "via": "exec"}
        in_recovery, timeline = pg.split(",")
        return {
            "reachable": True,
            "writable": in_recovery == "f",
            "timeline": int(timeline),
            "via": "exec",
            "pg_at": pg_at,
            **api,
        }


class HaproxyProbe(Probe):
    """Which node HAProxy's primary port reaches. Its own loop: a session to a primary
    that was cut off hangs until HAProxy marks the server down."""

    def poll(self):
        return self.backend(), time.time()

    def snapshot(self, now):
        if self.latest is None:
            return None
        backend, at = self.latest
        return backend if now - at <= STALE else None

    def backend(self):
        try:
            if self.conn is None or self.conn.closed:
                self.conn = self.cluster.connect(self.cluster.balancer, port=5000, timeout=1, dbname="postgres")
                self.conn.autocommit = True
            with self.conn.cursor() as cur:
                cur.execute("SELECT host(inet_server_addr())")
                address = cur.fetchone()[0]
            return next((n for n, a in self.cluster.nodes.items() if a == address), address)
        except psycopg2.Error:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return None


class DcsProbe(Probe):
    """Which member Patroni's leader key in the DCS names (etcd or Consul), in its own
    loop: a DCS without quorum may hang a read."""

    def poll(self):
        return self.cluster.leader_key_holder(), time.time()

    def snapshot(self, now):
        if self.latest is None:
            return None
        holder, at = self.latest
        return holder if now - at <= STALE else None


class VipProbe(threading.Thread):
    """Whether one balancer's interface carries the VIP. A loop inside the container
    prints it every INTERVAL (one long-lived exec, not one per sample); when the
    container stops, the loop ends and the node holds nothing until it runs again."""

    def __init__(self, cluster, name, stop_event):
        super().__init__(daemon=True)
        self.cluster, self.name, self.stop_event = cluster, name, stop_event
        self.latest = None  # (holds: bool | None, time)
        self.process = None

    def run(self):
        check = " ".join(vip_check(self.cluster.vip))
        loop = f"while :; do {check} | grep -c inet; sleep {INTERVAL}; done"
        while not self.stop_event.is_set():
            self.process = subprocess.Popen(
                ["docker", "exec", self.name, "sh", "-c", loop],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for line in self.process.stdout:
                self.latest = (line.strip() != "0", time.time())
                if self.stop_event.is_set():
                    break
            self.process.kill()
            self.process.wait()
            if not self.stop_event.is_set():
                running = self.cluster.container_running(self.name)
                self.latest = (None if running else False, time.time())
                self.stop_event.wait(INTERVAL)

    def stop(self):
        if self.process is not None:
            self.process.kill()

    def snapshot(self, now):
        if self.latest is None:
            return None
        holds, at = self.latest
        return holds if now - at <= STALE else None


class Sampler(threading.Thread):
    def __init__(self, cluster, interval=INTERVAL):
        super().__init__(daemon=True)
        self.cluster, self.interval = cluster, interval
        self.samples = []
        self._stop_event = threading.Event()
        self._probes = {name: NodeProbe(cluster, name, self._stop_event) for name in cluster.nodes}
        self._haproxy = HaproxyProbe(cluster, self._stop_event)
        self._dcs = DcsProbe(cluster, self._stop_event)
        # The VIP is read inside the containers: lab only.
        watch_vip = cluster.vip and cluster.lab
        self._vip = {name: VipProbe(cluster, name, self._stop_event) for name in cluster.balancers} if watch_vip else {}

    def stop(self):
        self._stop_event.set()
        self.join(10)
        for probe in self._vip.values():
            probe.stop()
        for probe in [*self._probes.values(), self._haproxy, self._dcs, *self._vip.values()]:
            probe.join(5)

    def run(self):
        for probe in [*self._probes.values(), self._haproxy, self._dcs, *self._vip.values()]:
            probe.start()
        while not self._stop_event.is_set():
            started = time.time()
            nodes = {name: probe.snapshot(started) for name, probe in self._probes.items()}
            self.samples.append(
                {
                    "t": started,
                    "nodes": nodes,
                    "primary_api": {n: v.pop("primary_api") for n, v in nodes.items()},
                    "replica_api": {n: v.pop("replica_api") for n, v in nodes.items()},
                    "haproxy_primary": self._haproxy.snapshot(started),
                    "dcs_leader_key": self._dcs.snapshot(started),
                    # {balancer: True/False, None when unknown}; empty without a VIP
                    "vip": {name: probe.snapshot(started) for name, probe in self._vip.items()},
                }
            )
            self._stop_event.wait(max(0.0, self.interval - (time.time() - started)))
