"""Samples, every 200 ms, everything that could let a client write: each PostgreSQL
node (writable or not) and its Patroni answers, the primary backend of HAProxy on every
balancer, Patroni's leader key in the DCS, and which nodes hold the VIPs.

Each probe has its own thread, so one that hangs (a node cut off, a DCS without quorum)
delays only itself. A reading older than FRESH is unknown: the sample records which
probes were unknown, and the verdict holds each probe to a budget of unknown time
within the fault window. Each probe also times its own readings (`longest_gap`): a
stalled probe fails the drill even when the main loop kept sampling.
"""

import contextlib
import os
import select
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from base64 import b64encode

import psycopg2
import psycopg2.extensions

from .front_door import PRIMARY_PROXY, proxy_servers, vip_check

INTERVAL = 0.2
PATRONI_TIMEOUT = 0.5  # seconds a /primary call may take before it counts as no answer
PROBE_NICE = -10  # the probes' scheduling priority (root only)
# A reading older than this is unknown: states of two probes are only compared when
# both were read within one sampling period of each other.
FRESH = 0.5
# Read-write or not, the timeline, and whether a commit must wait for a synchronous
# standby while none is connected (fenced: it can acknowledge nothing, as an old primary
# that thaws after its synchronous standby was promoted). A session may still lower
# synchronous_commit for itself; the aggregator never does.
PROBE = (
    "SELECT pg_is_in_recovery(), (SELECT timeline_id FROM pg_control_checkpoint()),"
    " current_setting('synchronous_standby_names') <> ''"
    " AND current_setting('synchronous_commit') NOT IN ('off', 'local')"
    " AND NOT EXISTS (SELECT 1 FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum'))"
)
UNKNOWN = None  # a probe without a fresh reading
STOPPED = {"reachable": False, "writable": False, "timeline": None, "via": "stopped"}
# What libpq says when the node answers but PostgreSQL takes no sessions (no writes).
NOT_ACCEPTING = ("Connection refused", "the database system is starting up", "the database system is shutting down")

# Run inside a node when it cannot be reached over the network: psql over the local
# socket, fed PROBE on its standard input. It exits 2 when PostgreSQL does not answer.
INSIDE = ("runuser", "-u", "postgres", "--", "psql", "-XAtF,")
INSIDE_TIMEOUT = 1.0  # seconds an answer from inside may take
# A TCP connection to the node's port: its timeout (a node that does not answer within
# it is cut off), and how often a cut-off node's port is tried again.
PORT_TIMEOUT = 0.4
PORT_RETRY_TIMEOUT = 0.1
PORT_RECHECK = 1.0
PSQL_NO_CONNECTION = 2
# Seconds a connection, then a query, over TCP may take: a frozen node's kernel still
# takes the connection, but nothing answers on it. A later answer would not be fresh.
CONNECT_TIMEOUT = 1.0
QUERY_TIMEOUT = FRESH


def wait_ready(conn, timeout):
    """Drive an asynchronous psycopg2 connection until its connection or query is done;
    TimeoutError when that takes longer than `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no answer from PostgreSQL")
        waiting = ([conn.fileno()], [], []) if state == psycopg2.extensions.POLL_READ else ([], [conn.fileno()], [])
        select.select(*waiting, remaining)


def raise_priority():
    """Run this thread (and the commands it starts) ahead of the lab: on a busy host a
    starved probe reads too late to be fresh, and unknown time is a blind spot. Linux
    keeps a nice value per thread; only root may raise it, others keep theirs."""
    with contextlib.suppress(PermissionError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PROBE_NICE)


def fresh(latest, now):
    """The reading of a (reading, time read) pair when it is at most FRESH old, else UNKNOWN."""
    if latest is None or now - latest[1] > FRESH:
        return UNKNOWN
    return latest[0]


class Probe(threading.Thread):
    """Reads one thing every INTERVAL in its own thread, so a hung peer delays only
    itself. `poll()` returns the reading, UNKNOWN when it could not tell."""

    def __init__(self, cluster, stop_event, name):
        super().__init__(daemon=True)
        self.cluster, self.stop_event, self.name = cluster, stop_event, name
        self.conn = None
        self.latest = None  # (reading, time read)
        self.longest_gap = 0.0  # the longest time between two completed readings
        self.error = None  # the first exception a poll raised

    def run(self):
        raise_priority()
        previous = None
        while not self.stop_event.is_set():
            started = time.time()
            try:
                reading = self.poll()
            except Exception as exc:  # a probe's own bug: unknown readings, and said once
                reading = UNKNOWN
                if self.error is None:
                    self.error = repr(exc)
            now = time.time()
            self.latest = (reading, now)
            if previous is not None:
                self.longest_gap = max(self.longest_gap, now - previous)
            previous = now
            self.stop_event.wait(max(0.0, INTERVAL - (now - started)))
        if self.conn is not None:
            self.conn.close()

    def poll(self):
        raise NotImplementedError

    def stop(self):
        """Hook for probes with a child process."""


class NodeProbe(Probe):
    """One database node over TCP; a node that cannot be reached (cut off from the
    network) is read from inside through the container engine, so an isolated primary is
    still seen, and a stopped container is known to take no writes.

    On a busy host an exec into a node takes longer than a reading stays fresh, so the
    probe goes inside only when nothing cheaper can tell: a port that refuses takes no
    writes, and a stopped container is the engine's answer."""

    def __init__(self, cluster, stop_event, name):
        super().__init__(cluster, stop_event, name)
        self.inside = False  # probing through the container engine
        self.session = None  # the InsideSession while inside
        self.port_checked = 0.0  # when the port was last tried
        self.frozen = False  # its container was paused at the last reading

    def poll(self):
        if self.frozen:  # asked of the engine until the node thaws: TCP would wait out QUERY_TIMEOUT
            reading = self._frozen()
            if reading is not None:
                return reading
        if self.inside and self.session is not None and time.time() - self.port_checked < PORT_RECHECK:
            return self._sample_inside()  # cut off a moment ago: the session inside answers fastest
        if self.conn is None or self.conn.closed:
            # Before a new session (it may wait out its timeout on a node that is gone).
            port = self._port_state()
            self.port_checked = time.time()
            if port == "refused":  # the node answers: nothing listens, so nothing is written there
                return {**STOPPED, "via": "refused"}
            self.inside = port == "unreachable"
            if self.inside:
                return self._sample_inside()
            self._end_session()
        return self._sample_tcp()

    def _port_state(self):
        """open, refused (the node answered that nothing listens) or unreachable. Cut off
        already, the node is tried briefly: a slow answer only keeps it read from inside."""
        try:
            address = (self.cluster.nodes[self.name], self.cluster.postgres_port)
            with socket.create_connection(address, timeout=PORT_RETRY_TIMEOUT if self.inside else PORT_TIMEOUT):
                return "open"
        except ConnectionRefusedError:
            return "refused"
        except OSError:
            return "unreachable"

    def _sample_tcp(self):
        reused = self.conn is not None and not self.conn.closed
        try:
            if not reused:
                self.conn = self.cluster.connect(self.cluster.nodes[self.name], timeout=1, dbname="postgres", async_=1)
                wait_ready(self.conn, CONNECT_TIMEOUT)
            with self.conn.cursor() as cur:
                cur.execute(PROBE)
                wait_ready(self.conn, QUERY_TIMEOUT)
                in_recovery, timeline, fenced = cur.fetchone()
            return {
                "reachable": True,
                "writable": not in_recovery,
                "fenced": fenced,
                "timeline": timeline,
                "via": "tcp",
            }
        except TimeoutError:  # the node took the connection but its PostgreSQL did not answer
            self.conn.close()
            self.conn = None
            return self._frozen_or_inside()
        except psycopg2.Error as exc:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            if any(sign in str(exc) for sign in NOT_ACCEPTING):
                # The node answered: PostgreSQL is down or (re)starting and takes no
                # writes. Known at once, without the slower look from inside.
                return {**STOPPED, "via": "refused"}
            if reused:  # PostgreSQL ended the session (a restart): a new one says why, at once
                return self.poll()
        return self._sample_inside()

    def _frozen_or_inside(self):
        return self._frozen() or self._sample_inside()

    def _frozen(self):
        """A paused container (every process frozen) commits nothing until it thaws: the
        engine says so without an exec, which a paused container refuses. None when the
        node is not paused (or the engine cannot tell)."""
        self.frozen = False
        if self.cluster.lab:
            with contextlib.suppress(Exception):  # the engine did not answer: look inside
                self.frozen = self.cluster.container_state(self.name) == "paused"
        return {**STOPPED, "via": "paused"} if self.frozen else None

    def _sample_inside(self):
        """The node read from inside: the engine says whether its container runs (cheap,
        and it does not wait while the engine starts the container); psql over the local
        socket answers through one long-lived `docker exec` (a line written, a line read:
        no process started in the node per reading)."""
        if not self.cluster.lab:
            return UNKNOWN
        if self.session is None:  # (a session that answers is proof enough that the container runs)
            try:
                running = self.cluster.container_state(self.name) == "running"
            except Exception:  # the engine did not answer
                return UNKNOWN
            if not running:
                return STOPPED
            self.session = InsideSession(self.cluster.exec_argv(self.name, *INSIDE, interactive=True))
        try:
            answer = self.session.ask(PROBE, timeout=INSIDE_TIMEOUT)
        except TimeoutError:  # a late answer would be read as the next one's
            self._end_session()
            return UNKNOWN
        if answer is None:  # psql ended: it could not reach PostgreSQL or lost it, or the container stopped
            status = self.session.status()
            self._end_session()
            if status == PSQL_NO_CONNECTION:  # PostgreSQL does not answer: it takes no writes either
                return {**STOPPED, "via": "exec"}
            return self._without_postgres()
        if answer.count(",") != 2:
            return UNKNOWN
        in_recovery, timeline, fenced = answer.split(",")
        return {
            "reachable": True,
            "writable": in_recovery == "f",
            "fenced": fenced == "t",
            "timeline": int(timeline),
            "via": "exec",
        }

    def _without_postgres(self):
        """STOPPED when the container runs no postgres process (it boots, or PostgreSQL
        is down), else UNKNOWN."""
        try:
            commands = self.cluster.container_commands(self.name)
        except Exception:
            return UNKNOWN
        if commands is None:
            return STOPPED
        return {**STOPPED, "via": "engine"} if "postgres" not in commands else UNKNOWN

    def _end_session(self):
        if self.session is not None:
            self.session.close()
            self.session = None

    def stop(self):
        self._end_session()


class InsideSession:
    """psql inside a node, kept open through `docker exec -i`: ask() writes a query and
    reads its one-line answer within a timeout."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1
        )

    def ask(self, query, timeout):
        """The answer's line; None when psql has ended; TimeoutError when it is late."""
        try:
            self.proc.stdin.write(query + ";\n")
            self.proc.stdin.flush()
        except OSError:  # psql has ended
            return None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError
        line = self.proc.stdout.readline()
        return line.strip() if line else None

    def status(self, timeout=1):
        """psql's exit status once it has ended (None if it does not end in time)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()


class PatroniProbe(Probe):
    """Patroni's /primary answer on one node (what HAProxy's checks route by), in its own
    thread: the REST API answers far slower than PostgreSQL, and the node's reading must
    not wait for it. The reading is {"status": HTTP status}, None when the API does not
    answer: while its node is cut off (the node probe reads it from inside) or frozen, no
    client can be routed by it, so it is not asked."""

    def __init__(self, cluster, stop_event, name, node_probe):
        super().__init__(cluster, stop_event, name)
        self.node_probe = node_probe

    def poll(self):
        if self.node_probe.inside or self.node_probe.frozen:
            return {"status": None}
        return {"status": self.cluster.patroni(self.name, "/primary", timeout=PATRONI_TIMEOUT)[0]}


class HaproxyProbe(Probe):
    """The servers HAProxy's primary backend on one balancer counts UP, from its
    statistics page (CSV); a stopped balancer, or one where HAProxy does not listen,
    routes nothing. With more than one UP, the probe also opens a connection to the
    primary port: HAProxy closes it at once when it refuses to route (its rule while
    more than one server counts as UP, as right after it starts); a connection it holds
    open is routed, and then the two servers are a split brain. Whether the port holds
    a connection open is first seen on the healthy cluster, or no refusal is believed."""

    def __init__(self, cluster, stop_event, name):
        super().__init__(cluster, stop_event, name)
        address = cluster.balancers[name]
        self.primary = (address, cluster.primary_port)
        self.refusal_visible = None  # the healthy port held a connection open
        self.url = f"http://{address}:{cluster.setting('haproxy_stats_port')}/;csv"
        self.headers = self._credentials()
        self.rereading = None  # the thread reading a rotated password

    def _credentials(self):
        user = self.cluster.settings["haproxy_stats_username"]
        credentials = b64encode(f"{user}:{self.cluster.secret('haproxy_stats')}".encode()).decode()
        return {"Authorization": f"Basic {credentials}"}

    def _reread_credentials(self):
        """In the background (rendering the inventory takes seconds): the probe goes on
        reading, unknown until the new password is in."""
        if self.rereading is not None and self.rereading.is_alive():
            return

        def reread():
            self.cluster.forget_secrets()
            self.headers = self._credentials()

        self.rereading = threading.Thread(target=reread, daemon=True)
        self.rereading.start()

    def poll(self):
        try:
            request = urllib.request.Request(self.url, headers=self.headers)
            with urllib.request.urlopen(request, timeout=0.4) as response:
                servers = proxy_servers(response.read().decode(), PRIMARY_PROXY)
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # the stats password was rotated: read the inventory again
                self._reread_credentials()
            return UNKNOWN
        except OSError as exc:
            if isinstance(getattr(exc, "reason", exc), ConnectionRefusedError):
                return []  # the node answered: no HAProxy listens, none routes
            try:
                return UNKNOWN if not self.cluster.lab or self.cluster.container_running(self.name) else []
            except Exception:
                return UNKNOWN
        up = sorted(name for name, status in servers.items() if status.startswith("UP"))
        if len(up) == 1 and self.refusal_visible is None:
            self.refusal_visible = not self._closes_at_once()
        if len(up) > 1 and self.refusal_visible and self._closes_at_once():
            return []  # it routes nothing while so
        return up

    def _closes_at_once(self):
        """Whether the primary port closes a new connection without routing it (a
        PostgreSQL behind it would wait for the client's startup packet)."""
        try:
            with socket.create_connection(self.primary, timeout=0.3) as conn:
                conn.settimeout(0.3)
                return conn.recv(1) == b""
        except (ConnectionRefusedError, ConnectionResetError):
            return True
        except OSError:  # timed out: held open, routed
            return False


class DcsProbe(Probe):
    """The member Patroni's leader key names ("" when there is no key): etcd or Consul."""

    def poll(self):
        try:
            return self.cluster.leader_key_reading() or ""
        except RuntimeError:  # no member answered
            return UNKNOWN


class VipProbe(Probe):
    """Whether one node's interface carries a VIP. A loop inside the container prints it
    every INTERVAL (one long-lived exec, not one per sample); when the container stops,
    the loop ends and the node holds nothing until it runs again."""

    def __init__(self, cluster, stop_event, name, vip):
        super().__init__(cluster, stop_event, name)
        self.vip = vip
        self.process = None

    def run(self):
        check = " ".join(vip_check(self.vip))
        loop = f"while :; do {check} | grep -c inet; sleep {INTERVAL}; done"
        previous = None
        while not self.stop_event.is_set():
            self.process = subprocess.Popen(
                ["docker", "exec", self.name, "sh", "-c", loop],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for line in self.process.stdout:
                now = time.time()
                self.latest = (line.strip() != "0", now)
                self.longest_gap = max(self.longest_gap, now - (previous or now))
                previous = now
                if self.stop_event.is_set():
                    break
            self.process.kill()
            self.process.wait()
            if not self.stop_event.is_set():
                running = self.cluster.container_running(self.name)
                now = time.time()
                self.latest = (UNKNOWN if running else False, now)
                previous = now
                self.stop_event.wait(INTERVAL)

    def stop(self):
        if self.process is not None:
            self.process.kill()


class Sampler(threading.Thread):
    def __init__(self, cluster, interval=INTERVAL):
        super().__init__(daemon=True)
        self.cluster, self.interval = cluster, interval
        self.samples = []
        self._stop_event = threading.Event()
        stop = self._stop_event
        self._nodes = {name: NodeProbe(cluster, stop, name) for name in cluster.nodes}
        self._patroni = {name: PatroniProbe(cluster, stop, name, probe) for name, probe in self._nodes.items()}
        self._haproxy = {name: HaproxyProbe(cluster, stop, name) for name in cluster.balancers}
        self._dcs = DcsProbe(cluster, stop, "dcs")
        # The VIPs are read inside the containers: lab only.
        lab = cluster.lab
        self._vip = (
            {n: VipProbe(cluster, stop, n, cluster.vip) for n in cluster.balancers} if cluster.vip and lab else {}
        )
        leader_vip = cluster.leader_vip and lab
        self._leader_vip = (
            {n: VipProbe(cluster, stop, n, cluster.leader_vip) for n in cluster.nodes} if leader_vip else {}
        )

    def probes(self):
        """{probe name: probe}, the names the verdict's budgets and gaps use."""
        return {
            **{f"postgres@{n}": p for n, p in self._nodes.items()},
            **{f"patroni@{n}": p for n, p in self._patroni.items()},
            **{f"haproxy@{n}": p for n, p in self._haproxy.items()},
            "dcs": self._dcs,
            **{f"vip@{n}": p for n, p in self._vip.items()},
            **{f"leader_vip@{n}": p for n, p in self._leader_vip.items()},
        }

    def probe_gaps(self):
        """{probe: longest time between two of its readings}."""
        return {name: round(probe.longest_gap, 3) for name, probe in self.probes().items()}

    def probe_errors(self):
        """{probe: the first exception its poll raised}, for probes that raised one."""
        return {name: probe.error for name, probe in self.probes().items() if probe.error}

    def stop(self):
        self._stop_event.set()
        self.join(10)
        for probe in self.probes().values():
            probe.stop()
        for probe in self.probes().values():
            probe.join(5)

    def run(self):
        raise_priority()
        for probe in self.probes().values():
            probe.start()
        while not self._stop_event.is_set():
            started = time.time()
            self.samples.append(self.sample(started))
            self._stop_event.wait(max(0.0, self.interval - (time.time() - started)))

    def sample(self, now):
        latest = {name: probe.latest for name, probe in self.probes().items()}  # each read once
        readings = {name: fresh(reading, now) for name, reading in latest.items()}
        nodes = {n: dict(readings[f"postgres@{n}"] or {"writable": None, "via": "unknown"}) for n in self._nodes}
        return {
            "t": now,
            "nodes": nodes,
            # {node: Patroni's /primary status}, None when it did not answer or is unknown
            "primary_api": {n: (readings[f"patroni@{n}"] or {}).get("status") for n in self._nodes},
            # {balancer: [servers UP in the primary backend]}, None when unknown
            "haproxy_primary": {n: readings[f"haproxy@{n}"] for n in self._haproxy},
            # the member the leader key names ("": no key), None when unknown
            "dcs_leader_key": readings["dcs"],
            # {node: True/False, None when unknown}; empty without the VIP
            "vip": {n: readings[f"vip@{n}"] for n in self._vip},
            "leader_vip": {n: readings[f"leader_vip@{n}"] for n in self._leader_vip},
            "unknown": sorted(name for name, value in readings.items() if value is UNKNOWN),
            # when each probe's reading was taken (the DCS key is compared with later ones)
            "read_at": {name: reading[1] for name, reading in latest.items() if reading},
        }
