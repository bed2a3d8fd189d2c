"""The node probe reads a node the cheapest sure way: over TCP while PostgreSQL answers,
a refused port or a stopped container without an exec into the node, and a session
PostgreSQL ended (a restart) with a new session rather than from inside. On a busy host
an exec takes longer than a reading stays fresh, so every needless one is unknown time.

No lab: the node is a real PostgreSQL on loopback, the container engine a stand-in."""

import threading

import psycopg2

from drills.sampler import NodeProbe
from testbed.pgserver import free_port


class Node:
    """Just enough of `drills.cluster.Cluster` for one node probe; an exec fails the test."""

    lab, patroni_port, node_tls = True, 8008, "/etc/patroni/tls"

    def __init__(self, address="127.0.0.1", port=None, running=True, url=None):
        self.nodes = {"pg1": address}
        self.postgres_port = port or free_port()
        self.running, self.url, self.execs = running, url, 0

    def connect(self, address, timeout=2, dbname="postgres"):
        return psycopg2.connect(self.url, connect_timeout=timeout)

    def patroni(self, name, path, timeout=1.0):
        return None, None

    def container_running(self, name):
        return self.running

    def exec(self, *argv, **kwargs):
        self.execs += 1
        raise AssertionError("the probe went into the node where it did not need to")


class CutOffProbe(NodeProbe):
    """A node cut off the network: its port neither answers nor refuses."""

    def _port_state(self):
        return "unreachable"


def probe(node, kind=NodeProbe):
    return kind(node, threading.Event(), "pg1")


def test_a_refused_port_reads_as_stopped_without_going_inside():
    node = Node()
    reader = probe(node)
    reader.inside = True  # as after a reading that could not reach the node
    reading = reader.poll()
    assert (reading["writable"], reading["via"]) == (False, "refused")
    assert node.execs == 0


def test_a_stopped_container_is_read_from_the_engine_without_an_exec():
    node = Node(running=False)
    reader = probe(node, CutOffProbe)
    reader.inside = True
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


def test_an_unreachable_running_node_is_read_from_inside():
    """The isolated node: the only case left for an exec (here it fails: unknown)."""
    node = Node()
    reader = probe(node, CutOffProbe)
    reader.inside = True
    assert reader.poll() is None
    assert node.execs == 1
