"""The node probe reads a node the cheapest sure way: over TCP while PostgreSQL answers,
a refused port or a stopped container without going into the node, a session
PostgreSQL ended (a restart) with a new session, and a node cut off the network through
one long-lived psql inside it. On a busy host a process started in a node per reading
takes longer than a reading stays fresh, and every stale reading is unknown time.

No lab: the node is a real PostgreSQL on loopback, the container engine a stand-in, and
the psql inside the node a small shell program that speaks the same lines."""

import os
import signal
import threading
import time

import psycopg2
import pytest

from drills.sampler import QUERY_TIMEOUT, NodeProbe, PatroniProbe
from testbed.pgserver import free_port

# What psql inside a node does, as shell programs: answer every query with a line, or
# exit as psql does when PostgreSQL does not answer (2) or it cannot start (1).
ANSWERS = 'while read -r query; do echo "{}"; done'


class Node:
    """Just enough of `drills.cluster.Cluster` for one node probe."""

    lab = True

    def __init__(self, port=None, state="running", url=None, postgres=True, inside=None):
        self.nodes = {"pg1": "127.0.0.1"}
        self.postgres_port = port or free_port()
        self.state, self.url, self.postgres = state, url, postgres
        self.inside = inside  # the shell program standing in for psql inside the node
        self.sessions = 0

    def connect(self, address, timeout=2, dbname="postgres", **options):
        return psycopg2.connect(self.url, connect_timeout=timeout, **options)

    def patroni(self, name, path, timeout=1.0):
        return None, None

    def container_state(self, name):
        return self.state

    def container_commands(self, name):
        if self.state != "running":
            return None
        return ["systemd", "patroni", *(["postgres"] * self.postgres)]

    def exec_argv(self, name, *argv, interactive=False):
        if self.inside is None:
            pytest.fail("the probe went into the node where it did not need to")
        self.sessions += 1
        return ["sh", "-c", self.inside]


class CutOffProbe(NodeProbe):
    """A node cut off the network: its port neither answers nor refuses."""

    def _port_state(self):
        return "unreachable"


def probe(node, kind=NodeProbe):
    return kind(node, threading.Event(), "pg1")


def test_a_refused_port_reads_as_stopped_without_going_inside():
    reading = probe(Node()).poll()
    assert (reading["writable"], reading["via"]) == (False, "refused")


def test_a_stopped_container_is_read_from_the_engine_without_going_inside():
    reading = probe(Node(state="exited"), CutOffProbe).poll()
    assert (reading["writable"], reading["via"]) == (False, "stopped")


def test_a_session_postgres_ended_is_replaced_over_tcp(pg_server):
    reader = probe(Node(port=pg_server.port, url=pg_server.url()))
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


def test_a_frozen_node_reads_as_paused_within_the_query_timeout(pg_server):
    """The kernel keeps a frozen node's connections open, so only a deadline ends the
    wait; the engine then says why nothing answered."""
    node = Node(port=pg_server.port, url=pg_server.url())
    reader = probe(node)
    assert reader.poll()["via"] == "tcp"
    backend = reader.conn.get_backend_pid()
    os.kill(backend, signal.SIGSTOP)
    node.state = "paused"
    try:
        started = time.monotonic()
        reading = reader.poll()
        waited = time.monotonic() - started
    finally:
        os.kill(backend, signal.SIGCONT)
    assert (reading["writable"], reading["via"]) == (False, "paused")
    assert waited < QUERY_TIMEOUT + 1.0
    node.patroni = lambda *args, **kwargs: pytest.fail("asked Patroni on a node that is frozen")
    assert PatroniProbe(node, threading.Event(), "pg1", reader).poll() == {"status": None}
    started = time.monotonic()
    assert reader.poll()["via"] == "paused"
    assert time.monotonic() - started < 0.5, "a frozen node is asked of the engine, not over TCP again"
    node.state = "running"
    assert reader.poll()["via"] == "tcp"


@pytest.mark.parametrize(
    ("answer", "writable", "fenced"), [("f,4,f", True, False), ("t,4,f", False, False), ("f,4,t", True, True)]
)
def test_a_cut_off_node_is_read_through_one_session_inside(answer, writable, fenced):
    node = Node(inside=ANSWERS.format(answer))
    reader = probe(node, CutOffProbe)
    try:
        readings = [reader.poll() for _ in range(3)]
    finally:
        reader.stop()
    assert [(r["writable"], r["fenced"], r["timeline"], r["via"]) for r in readings] == [
        (writable, fenced, 4, "exec")
    ] * 3
    assert node.sessions == 1


def test_postgres_not_answering_inside_reads_as_stopped():
    node = Node(inside="exit 2")
    reading = probe(node, CutOffProbe).poll()
    assert (reading["writable"], reading["via"]) == (False, "exec")


def test_a_booting_node_without_postgres_is_read_from_the_engine():
    node = Node(inside="exit 1", postgres=False)
    reading = probe(node, CutOffProbe).poll()
    assert (reading["writable"], reading["via"]) == (False, "engine")


def test_psql_failing_beside_a_running_postgres_is_unknown():
    node = Node(inside="exit 1")
    assert probe(node, CutOffProbe).poll() is None


def test_an_answer_too_late_is_unknown_and_the_session_replaced():
    node = Node(inside="sleep 5")
    reader = probe(node, CutOffProbe)
    try:
        assert reader.poll() is None
        assert reader.session is None
    finally:
        reader.stop()


def test_patroni_is_not_asked_while_its_node_is_cut_off():
    """No client can be routed by an API nobody reaches: no answer, read at once."""
    node = Node(inside=ANSWERS.format("f,4,f"))
    node.patroni = lambda *args, **kwargs: pytest.fail("asked Patroni on a node that is cut off")
    node_reader = probe(node, CutOffProbe)
    try:
        node_reader.poll()
        assert PatroniProbe(node, threading.Event(), "pg1", node_reader).poll() == {"status": None}
    finally:
        node_reader.stop()
