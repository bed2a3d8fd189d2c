"""The app under a real gunicorn (gevent workers, as deployed) on a free loopback port."""

import http.client
import json
import os
import subprocess
import sys
import time

from conftest import TOKEN, TOKENS

from testbed.pgserver import free_port


def request(port, method, path, body=None, timeout=30, close=False):
    """(status, body text) of one request with the test token on a new connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Authorization": f"Bearer {TOKEN}", **({"Connection": "close"} if close else {})}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def start(database_url, *gunicorn_args, env=None, timeout=30):
    """gunicorn serving the app with `gunicorn_args`; returns (port, process) once /ready
    answers 200 (the test stops the process)."""
    port = free_port()
    environment = dict(os.environ, AGGREGATOR_DATABASE_URL=database_url, **(env or {}))
    environment.update({f"AGGREGATOR_{key}": ",".join(value) for key, value in TOKENS.items()})
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--worker-class", "gevent", *gunicorn_args]
        + ["--bind", f"127.0.0.1:{port}", "aggregator:create_app()"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            if request(port, "GET", "/ready", timeout=2)[0] == 200:
                return port, process
        except OSError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read().decode()
        time.sleep(0.1)


def stop(process):
    if process.poll() is None:
        process.terminate()
        process.wait(30)
