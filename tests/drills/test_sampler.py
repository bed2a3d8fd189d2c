"""The node probe reads a node the cheapest sure way: over TCP while PostgreSQL answers,
a refused port or a stopped container without an exec into the node, and a session
PostgreSQL ended (a restart) with a new session rather than from inside. On a busy host
an exec takes longer than a reading stays fresh, so every needless one is unknown time.

No lab: the node is a real PostgreSQL on loopback, the container engine a stand-in."""

import subprocess
import threading

import psycopg2
import pytest

from drills.sampler import NodeProbe, PatroniProbe
from testbed.pgserver import free_port


class Node:
    """Just enough of `drills.cluster.Cluster` for one node probe; an exec fails the test."""

    lab, patroni_port, node_tls = True, 8008, "/etc/patroni/tls"

    def __init__(self, address="127.0.0.1", port=None, running=True, url=None, postgres=True):
        self.nodes = {"pg1": address}
        self.postgres_port = port or free_port()
        self.running, self.url, self.execs, self.postgres = running, url, 0, postgres
        self.inside = None  # (exit status, output) of an exec into the node

    def connect(self, address, timeout=2, dbname="postgres"):
        return psycopg2.connect(self.url, connect_timeout=timeout)

    def patroni(self, name, path, timeout=1.0):
        return None, None

    def container_commands(self, name):
        return ["systemd", "patroni", *(["postgres"] * self.postgres)] if self.running else None

    def exec(self, *argv, **kwargs):
        self.execs += 1
        if self.inside is None:
            raise AssertionError("the probe went into the node where it did not need to")
        return subprocess.CompletedProcess(argv, self.inside[0], stdout=self.inside[1], stderr="")


class CutOffProbe(NodeProbe):
    """A node cut off the network: its port neither answers nor refuses."""

    def _port_state(self):
        return "unreachable"


def probe(node, kind=NodeProbe):
    return kind(node, threading.Event(), "pg1")


def test_a_refused_port_reads_as_stopped_without_going_inside():
    node = Node()
    reader = probe(node)
    reading = reader.poll()
    assert (reading["writable"], reading["via"]) == (False, "refused")
    assert node.execs == 0


def test_a_stopped_container_is_read_from_the_engine_without_an_exec():
    node = Node(running=False)
    reader = probe(node, CutOffProbe)
    reading = reader.poll()
    assert (reading["writable"], reading["via"]) == (False, "stopped")
    assert node.execs == 0


def test_a_session_postgres_ended_is_replaced_over_tcp(pg_server):
    node = Node(port=pg_server.port, url=pg_server.url())
    reader = probe(node)
    first = reader.poll()
    assert (first["writable"], first["via"]) == (True, "tcp")
    pid = reader.conn.get_backend_pid()
    admin = psycopg2.connect(pg_server.url())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    admin.close()
    second = reader.poll()
    assert (second["writable"], second["via"]) == (True, "tcp")
    assert reader.conn.get_backend_pid() != pid
    assert node.execs == 0


def test_a_booting_node_without_postgres_is_read_from_the_engine_without_an_exec():
    node = Node(postgres=False)
    reading = probe(node, CutOffProbe).poll()
    assert (reading["writable"], reading["via"]) == (False, "engine")
    assert node.execs == 0


def test_an_unreachable_running_node_is_read_from_inside():
    """The isolated node: the only case left for an exec (here it fails: unknown)."""
    node = Node()
    reader = probe(node, CutOffProbe)
    assert reader.poll() is None
    assert node.execs == 1


@pytest.mark.parametrize(
    ("status", "output", "writable", "timeline"),
    [(0, "f,4\n", True, 4), (0, "t,4\n", False, 4), (2, "", False, None)],
)
def test_a_cut_off_node_is_read_with_psql_inside(status, output, writable, timeline):
    """psql over the node's local socket: writable or not, and exit status 2 when
    PostgreSQL does not answer."""
    node = Node()
    node.inside = (status, output)
    reading = probe(node, CutOffProbe).poll()
    assert (reading["writable"], reading["timeline"], reading["via"]) == (writable, timeline, "exec")


def test_patroni_is_not_asked_while_its_node_is_cut_off():
    """No client can be routed by an API nobody reaches: no answer, read at once."""
    node = Node()
    node.patroni = lambda *args, **kwargs: pytest.fail("asked Patroni on a node that is cut off")
    node_reader = probe(node, CutOffProbe)
    node_reader.poll()
    assert PatroniProbe(node, threading.Event(), "pg1", node_reader).poll() == {"status": None}
