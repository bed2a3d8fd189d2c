"""Cooperative database I/O under gunicorn's gevent workers (the deployed worker class)."""

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import gunicorn_app
import psycopg2
import pytest
from psycopg2 import extensions

from aggregator import green


def test_install_changes_nothing_outside_gevent():
    assert green.install() is False
    assert extensions.get_wait_callback() is None


def request(port, method, path, body=None, timeout=30):
    """(status, parsed JSON body) of one request."""
    status, text = gunicorn_app.request(port, method, path, body, timeout)
    return status, json.loads(text or "null")


@pytest.fixture
def gevent_app(database_url):
    """The app under gunicorn with ONE gevent worker: any blocking wait stalls it all."""
    port, process = gunicorn_app.start(
        database_url, "--workers", "1", "--graceful-timeout", "20", env={"AGGREGATOR_AUTO_MIGRATE": "false"}
    )
    yield port, process
    gunicorn_app.stop(process)


def test_a_query_waiting_on_a_lock_does_not_stall_the_worker(gevent_app, database_url):
    port, _ = gevent_app
    locker = psycopg2.connect(database_url)
    with locker.cursor() as cur:
        cur.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
    with ThreadPoolExecutor(1) as executor:
        blocked = executor.submit(request, port, "GET", "/events?topic=x")
        time.sleep(0.5)
        assert not blocked.done()
        started = time.monotonic()
        assert request(port, "GET", "/health", timeout=5)[0] == 200
        assert time.monotonic() - started < 2
        locker.rollback()
        assert blocked.result(timeout=10)[0] == 200
    locker.close()


def test_concurrent_publishes_with_duplicates_are_exact(gevent_app, sql):
    port, _ = gevent_app

    def publish(i):
        return request(port, "POST", "/publish", {"topic": "g", "event_id": str(i % 70)})

    with ThreadPoolExecutor(32) as executor:
        results = list(executor.map(publish, range(100)))
    assert {status for status, _ in results} == {202}
    assert sum(body["unique"] for _, body in results) == 70
    assert sql("SELECT count(*) FROM events")[0][0] == 70
    assert request(port, "GET", "/stats")[1]["duplicate_dropped"] == 30


def test_sigterm_drains_every_acknowledged_event(gevent_app, sql):
    port, process = gevent_app
    acknowledged, stop = [], threading.Event()

    def publisher(worker):
        n = 0
        while not stop.is_set():
            event_id = f"{worker}-{n}"
            try:
                status, _ = request(port, "POST", "/publish", {"topic": "drain", "event_id": event_id}, timeout=30)
            except OSError:
                return
            if status == 202:
                acknowledged.append(event_id)
            n += 1

    threads = [threading.Thread(target=publisher, args=(w,)) for w in range(16)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    stop.set()
    for thread in threads:
        thread.join(30)
    stored = {row[0] for row in sql("SELECT event_id FROM events WHERE topic = 'drain'")}
    assert len(acknowledged) > 100
    assert set(acknowledged) <= stored


CONNECT_UNDER_GEVENT = """
from gevent import monkey
monkey.patch_all()
import sys, time
import psycopg2
from aggregator import db, green
assert green.install()
started = time.monotonic()
try:
    db.connect(sys.argv[1], 1)
except psycopg2.OperationalError as exc:
    print(f"{time.monotonic() - started:.2f} {exc}")
else:
    print("connected")
"""


def test_connect_timeout_holds_under_gevent():
    # A listener that never answers: the TCP handshake completes, PostgreSQL's never does.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"postgresql://x@127.0.0.1:{silent.getsockname()[1]}/x"
        out = subprocess.run(
            [sys.executable, "-c", CONNECT_UNDER_GEVENT, url], capture_output=True, text=True, timeout=30
        ).stdout
    seconds, _, message = out.partition(" ")
    assert "timed out" in message, out
    assert 0.9 <= float(seconds) < 3
