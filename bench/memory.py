"""Memory of one aggregator worker under concurrent maximum-size bodies, with its byte
budgets and, in the same run, without them.

    python bench/memory.py            (make bench-memory)

Starts PostgreSQL and the app under gunicorn (one gevent worker, as deployed) on
loopback. Clients send maximum-size bodies (MAX_CONTENT_LENGTH, 16 MiB: 10,000 events)
concurrently: twice the in-flight budget at once. Each retries a 503 after its
Retry-After. The worker's peak RSS (VmHWM) is read from /proc, and the figure is
compared with the same load against a worker whose budgets are out of reach.
Afterwards every acknowledged event must be in the table.
"""

import argparse
import http.client
import json
import os
import random
import re
import secrets
import subprocess
import sys
import threading
import time

import psycopg2

from aggregator import schema
from drills.polling import wait_until
from testbed.pgserver import PgServer, free_port

TOKEN = secrets.token_hex(16)
MIB = 1024 * 1024
BODY_EVENTS = 10_000
PAYLOAD = 1_540  # bytes per event payload: a 10,000-event body just under 16 MiB


def body(run, index):
    events = [
        {"topic": "memory", "event_id": f"{run}-{index}-{i}", "payload": {"pad": "x" * PAYLOAD}}
        for i in range(BODY_EVENTS)
    ]
    return json.dumps(events).encode()


def start_app(url, port, budget):
    env = dict(os.environ, AGGREGATOR_DATABASE_URL=url, AGGREGATOR_AUTO_MIGRATE="false")
    env.update({f"AGGREGATOR_{scope}_TOKENS": TOKEN for scope in ("WRITE", "READ", "METRICS")})
    env.update(AGGREGATOR_INFLIGHT_MAX_BYTES=str(budget), AGGREGATOR_QUEUE_MAX_BYTES=str(budget))
    command = [sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", "gevent"]
    command += ["--bind", f"127.0.0.1:{port}", "--timeout", "300", "aggregator:create_app()"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ready():
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ready")
            return conn.getresponse().status == 200
        except OSError:
            return False

    if not wait_until(ready, 10, interval=0.1):
        raise RuntimeError("gunicorn did not become ready")
    return process


def worker_pid(master):
    for _ in range(50):
        children = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn {master} has no worker")


def memory_mib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(rf"{field}:\s+(\d+)", f.read()).group(1)) / 1024


def load(port, run, bodies, clients):
    """Each client sends its bodies, retrying 503s; returns (acknowledged event ids, 503s, failures)."""
    acked, refused, failed, lock = [], [0], [], threading.Lock()
    queue = iter(range(bodies))

    def client():
        conn = None
        while True:
            with lock:
                index = next(queue, None)
            if index is None:
                return
            data = body(run, index)
            while True:
                headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
                try:
                    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                    conn.request("POST", "/publish", body=data, headers=headers)
                    response = conn.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException):  # a refusal that closed the connection early
                    conn.close()
                    conn = None
                    with lock:
                        refused[0] += 1
                    time.sleep(random.uniform(0.5, 1.5))
                    continue
                if response.will_close:
                    conn.close()
                    conn = None
                if response.status == 202:
                    with lock:
                        acked.append(index)
                    break
                if response.status != 503:
                    failed.append(response.status)
                    break
                with lock:
                    refused[0] += 1
                time.sleep(float(response.getheader("Retry-After", "1")) * random.uniform(0.5, 1.0))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return acked, refused[0], failed


def measure(url, budget, run, bodies, clients):
    port = free_port()
    master = start_app(url, port, budget)
    try:
        pid = worker_pid(master.pid)
        idle = memory_mib(pid, "VmRSS")
        started = time.monotonic()
        acked, refused, failed = load(port, run, bodies, clients)
        seconds = time.monotonic() - started
        peak = memory_mib(pid, "VmHWM")
    finally:
        master.terminate()
        master.wait(30)
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM events WHERE event_id LIKE %s", (f"{run}-%",))
        stored = cur.fetchone()[0]
    conn.close()
    return {"idle": idle, "peak": peak, "acked": len(acked) * BODY_EVENTS, "stored": stored,
            "refused": refused, "failed": failed, "seconds": seconds}  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-mib", type=int, default=32, help="in-flight and queue byte budgets (MiB)")
    parser.add_argument("--bodies", type=int, default=16, help="maximum-size bodies to send")
    args = parser.parse_args()
    budget = args.budget_mib * MIB
    clients = 2 * budget // (16 * MIB)  # twice the budget in flight at once
    server = PgServer()
    server.init()
    server.start()
    url = server.url()
    conn = psycopg2.connect(url)
    schema.migrate(conn)
    conn.close()
    try:
        print(f"{clients} clients, {args.bodies} bodies of {BODY_EVENTS} events (~16 MiB) each")
        bounded = measure(url, budget, "bounded", args.bodies, clients)
        unbounded = measure(url, 1 << 40, "unbounded", args.bodies, clients)
    finally:
        server.destroy()
    for name, r in (("budget " + f"{args.budget_mib} MiB", bounded), ("no budget", unbounded)):
        print(
            f"{name:>14}: worker RSS idle {r['idle']:.0f} MiB, peak {r['peak']:.0f} MiB "
            f"(+{r['peak'] - r['idle']:.0f}); {r['refused']} answers 503, failed {r['failed'] or 0}; "
            f"acknowledged {r['acked']}, stored {r['stored']}; {r['seconds']:.1f} s"
        )
    growth = bounded["peak"] - bounded["idle"]
    print(f"peak growth with the budget: {growth:.0f} MiB = {growth / args.budget_mib:.1f} x the budget; "
          f"ratio to no budget: {growth / max(1.0, unbounded['peak'] - unbounded['idle']):.2f}")  # fmt: skip
    lost = [r for r in (bounded, unbounded) if r["stored"] < r["acked"]]
    print("result: OK" if not lost else "result: FAILED (acknowledged events missing)")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
