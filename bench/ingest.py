"""Throughput benchmark of the aggregator against its direct-write ceiling.

    python bench/ingest.py            (make bench)

Starts a PostgreSQL server (fsync and synchronous_commit on) and the app under
gunicorn (gevent workers, as deployed) on loopback, then measures in the same run:
  1. the ceiling: the fastest direct write of the same events into the same table,
     no HTTP, two writers (multi-row INSERT ... ON CONFLICT, and COPY into a staging
     table + INSERT ... SELECT ... ON CONFLICT);
  2. batched publish: 500 events per request, 8 concurrent clients, and the app's RSS;
     1 and 2 alternate for --rounds rounds, and each round's ratio is reported;
  3. single-event publish: one event per request, 64 concurrent clients (wrk);
  4. latency of single-event publishes at a fixed 1,000 events/s offered;
  5. the cost of TLS: batched and single-event publish over HTTPS to the app and
     verify-full TLS to PostgreSQL, beside the same over plain HTTP and sslmode=disable
     (two app instances on one server, measured alternately).
Prints each figure and its ratio to the ceiling, to the reference design or to plain.
"""

import argparse
import asyncio
import http.client
import io
import json
import os
import re
import secrets
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from statistics import median

import orjson
import psycopg2

from aggregator import schema
from testbed import tlsfiles
from testbed.pgserver import PgServer, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
# The app requires bearer tokens: one generated per run, sent with every publish.
TOKEN = secrets.token_hex(16)
AUTH = {"Authorization": f"Bearer {TOKEN}"}

REFERENCE_EVENTS_PER_SECOND = 168


@dataclass
class Endpoint:
    """The app: plain HTTP, or HTTPS verified against `context`'s CA; on loopback with
    this run's token unless told otherwise (the lab's VIP and its write token)."""

    port: int
    context: ssl.SSLContext | None = None
    host: str = "127.0.0.1"
    token: str = TOKEN
    name: str = ""  # the name its certificate carries, when not its address

    @property
    def server_name(self):
        return self.name or self.host

    @property
    def url(self):
        return f"{'https' if self.context else 'http'}://{self.host}:{self.port}"

    def connection(self, timeout):
        if self.context:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.context)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)


def make_events(n, tag):
    return [
        {
            "topic": f"topic-{i % 8}",
            "event_id": f"{tag}-{i}",
            "source": "bench",
            "timestamp": "2026-11-22T00:00:00+00:00",
            "payload": {"n": i, "msg": "x" * 40},
        }
        for i in range(n)
    ]


def run_writers(n_writers, work):
    threads = [threading.Thread(target=work, args=(w,)) for w in range(n_writers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


# What the app's statement does at the least, from a `staging` relation: the key table
# decides, the new events go to their expiry day's partition (30 days, the default).
STORE_NEW = """
fresh AS (
    INSERT INTO event_ids (topic, event_id, expires_on)
    SELECT topic, event_id, current_date + 30 FROM staging ORDER BY 1, 2
    ON CONFLICT (topic, event_id) DO NOTHING RETURNING topic, event_id
)
INSERT INTO events (topic, event_id, ts, source, payload, expires_on)
SELECT s.topic, s.event_id, s.ts, s.source, s.payload, current_date + 30
FROM staging s JOIN fresh USING (topic, event_id)
"""


def ceiling_multirow(url, events, batch=500, writers=2):
    chunks = [events[i : i + batch] for i in range(0, len(events), batch)]

    def work(w):
        conn = psycopg2.connect(url)
        with conn.cursor() as cur:
            for chunk in chunks[w::writers]:
                values = [
                    (e["topic"], e["event_id"], e["timestamp"], e["source"], orjson.dumps(e["payload"]).decode())
                    for e in chunk
                ]
                args = ",".join(cur.mogrify("(%s,%s,%s::timestamptz,%s,%s::jsonb)", v).decode() for v in values)
                cur.execute(f"WITH staging (topic, event_id, ts, source, payload) AS (VALUES {args}), " + STORE_NEW)
                conn.commit()
        conn.close()

    return len(events) / run_writers(writers, work)


def ceiling_copy(url, events, batch=500, writers=2):
    chunks = [events[i : i + batch] for i in range(0, len(events), batch)]

    def work(w):
        conn = psycopg2.connect(url)
        with conn.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE staging (topic text, event_id text, ts timestamptz, source text, payload jsonb)"
            )
            for chunk in chunks[w::writers]:
                buf = io.StringIO()
                for e in chunk:
                    payload = orjson.dumps(e["payload"]).decode().replace("\\", "\\\\")
                    buf.write(f"{e['topic']}\t{e['event_id']}\t{e['timestamp']}\t{e['source']}\t{payload}\n")
                buf.seek(0)
                cur.copy_from(buf, "staging")
                cur.execute("WITH " + STORE_NEW)
                cur.execute("TRUNCATE staging")
                conn.commit()
        conn.close()

    return len(events) / run_writers(writers, work)


def events_per_commit(url):
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT sum(received)::float8 / greatest(sum(batches), 1) FROM counter_shards")
        value = cur.fetchone()[0] or 0.0
    conn.close()
    return value


# The dedup key tables a schema may have: event_keys (digest, schemas 4-5), event_ids
# (text, from schema 5); reset() empties whichever exist.
KEY_TABLES = ("event_keys", "event_ids")


def reset(url):
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT array_agg(name) FROM unnest(%s::text[]) AS name WHERE to_regclass(name) IS NOT NULL",
            (list(KEY_TABLES),),
        )
        keys = cur.fetchone()[0] or []
        cur.execute(f"TRUNCATE events, {''.join(k + ', ' for k in keys)}counter_shards, topic_counter_shards")
        cur.execute("CHECKPOINT")
    conn.close()


def post_bodies(endpoint, bodies, concurrency, attempts=3):
    """Send pre-serialized bodies over persistent connections; returns (seconds,
    failures). A connection closed under a request is opened again and the body sent
    again (publishing is idempotent); a body that fails `attempts` times is a failure,
    so every body is either acknowledged or counted."""
    cursor = iter(bodies)
    lock = threading.Lock()
    failures = []
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {endpoint.token}"}

    def work(_):
        conn = endpoint.connection(timeout=120)
        while True:
            with lock:
                body = next(cursor, None)
            if body is None:
                break
            for attempt in range(1, attempts + 1):
                try:
                    conn.request("POST", "/publish", body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                except (http.client.HTTPException, OSError) as exc:
                    conn.close()
                    conn = endpoint.connection(timeout=120)
                    status = type(exc).__name__
                if status == 202:
                    break
                if attempt == attempts:
                    failures.append(status)
        conn.close()

    return run_writers(concurrency, work), failures


def process_tree_rss(pid):
    """Sum of VmRSS (MiB) of a process and its children."""
    pids = [pid]
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    pids += [int(p) for p in children]
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                total += int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        except (OSError, AttributeError):
            pass
    return total / 1024


def fixed_rate_latencies(endpoint, rate, seconds, connections=32):
    """Open-loop load from one asyncio thread (no GIL contention in the client): every
    request has a scheduled send time and its latency counts from that time, so a slow
    answer delays the ones behind it in the figures too (no coordinated omission).
    Returns ({0.5, 0.95, 0.99, 1.0: ms}, achieved requests/s, non-2xx answers)."""
    return asyncio.run(_fixed_rate(endpoint, rate, seconds, connections))


async def _fixed_rate(endpoint, rate, seconds, connections):
    total = int(rate * seconds)
    tag = uuid.uuid4().hex[:8]
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.5
    latencies = []
    failed = 0
    auth = f"Authorization: Bearer {endpoint.token}\r\n".encode()

    async def connection(c):
        nonlocal failed
        tls = {"ssl": endpoint.context, "server_hostname": endpoint.server_name} if endpoint.context else {}
        reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port, **tls)
        for i in range(c, total, connections):
            scheduled = start + i / rate
            await asyncio.sleep(max(0.0, scheduled - loop.time()))
            body = orjson.dumps({"topic": "latency", "event_id": f"{tag}-{i}"})
            writer.write(
                b"POST /publish HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                + auth
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            headers = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", headers).group(1))
            await reader.readexactly(length)
            latencies.append(loop.time() - scheduled)
            if not headers.startswith(b"HTTP/1.1 2"):
                failed += 1
        writer.close()

    began = loop.time()
    await asyncio.gather(*(connection(c) for c in range(connections)))
    elapsed = loop.time() - began
    latencies.sort()
    quantiles = {q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 for q in (0.5, 0.95, 0.99, 1.0)}
    return quantiles, total / elapsed, failed


def wrk_single(endpoint, seconds, connections, path="/publish"):
    script = ["-s", os.path.join(HERE, "single_event.lua")] if path == "/publish" else []
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", *script]
    command += [f"{endpoint.url}{path}", "--", uuid.uuid4().hex[:8], endpoint.token]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", out)
    return rps, int(non2xx.group(1)) if non2xx else 0, f"{p99.group(1)}{p99.group(2)}" if p99 else "?"


def start_gunicorn(args, url, endpoint, tls=None):
    """gunicorn as deployed; with `tls` (tlsfiles paths) it serves HTTPS."""
    env = dict(os.environ, AGGREGATOR_DATABASE_URL=url, AGGREGATOR_AUTO_MIGRATE="false")
    env.update({f"AGGREGATOR_{scope}_TOKENS": TOKEN for scope in ("WRITE", "READ", "METRICS")})
    command = [sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--worker-class", args.worker_class]
    if args.worker_class == "gthread":
        command += ["--threads", str(args.threads)]
    else:
        command += ["--worker-connections", str(args.connections)]
    if tls:
        command += ["--certfile", str(tls["cert"]), "--keyfile", str(tls["key"])]
    command += ["--bind", f"127.0.0.1:{endpoint.port}", "--backlog", "2048", "aggregator:create_app()"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            c = endpoint.connection(timeout=1)
            c.request("GET", "/ready")
            if c.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not become ready")


def batched_publish(endpoint, events, pid):
    """500 events per request from 8 clients; returns (events/s, failed statuses, peak RSS MiB)."""
    bodies = [orjson.dumps(events[i : i + 500]) for i in range(0, len(events), 500)]
    rss_peak = [process_tree_rss(pid)]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            rss_peak.append(process_tree_rss(pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    seconds, failures = post_bodies(endpoint, bodies, 8)
    stop.set()
    sampler.join()
    return len(events) / seconds, failures, max(rss_peak)


def tls_cost(args, server, tls, rounds):
    """Batched and single-event publish through two app instances on the same server:
    plain HTTP + sslmode=disable, and HTTPS + sslmode=verify-full, alternately."""
    plain = Endpoint(free_port())
    secure = Endpoint(free_port(), ssl.create_default_context(cafile=str(tls["ca"])))
    db = {
        "plain": server.url() + "?sslmode=disable",
        "tls": server.url() + f"?sslmode=verify-full&sslrootcert={tls['ca']}",
    }
    apps = {
        "plain": (plain, start_gunicorn(args, db["plain"], plain)),
        "tls": (secure, start_gunicorn(args, db["tls"], secure, tls)),
    }
    url = server.url()
    figures = {"plain": {"batched": [], "single": []}, "tls": {"batched": [], "single": []}}
    failures = []
    try:
        for endpoint, _ in apps.values():
            post_bodies(endpoint, [orjson.dumps(make_events(10, f"warm{uuid.uuid4().hex}")) for _ in range(40)], 8)
        reset(url)
        for round_ in range(1, rounds + 1):
            for mode, (endpoint, process) in apps.items():
                events = make_events(args.events // 2, f"{mode}{round_}")
                rate, failed, _ = batched_publish(endpoint, events, process.pid)
                failures += failed
                reset(url)
                rps, non2xx, _ = wrk_single(endpoint, args.seconds, 64)
                failures += [f"{non2xx} non-2xx"] if non2xx else []
                reset(url)
                figures[mode]["batched"].append(rate)
                figures[mode]["single"].append(rps)
            print(
                f"TLS round {round_}: batched plain {figures['plain']['batched'][-1]:6.0f}, "
                f"TLS {figures['tls']['batched'][-1]:6.0f} events/s; single plain "
                f"{figures['plain']['single'][-1]:6.0f}, TLS {figures['tls']['single'][-1]:6.0f} events/s"
            )
    finally:
        for _, process in apps.values():
            process.terminate()
            process.wait(30)
    result = {}
    for kind, label in (("batched", "batched publish, 500/request, 8 clients"), ("single", "single-event, 64 clients")):
        # Each round's cost compares two measurements seconds apart; the figure is their median.
        costs = [1 - t / p for p, t in zip(figures["plain"][kind], figures["tls"][kind], strict=True)]
        cost = median(costs)
        result[kind] = round(cost, 3)
        print(
            f"TLS cost, {label}: plain {median(figures['plain'][kind]):7.0f}, HTTPS + verify-full "
            f"{median(figures['tls'][kind]):7.0f} events/s (medians); median cost of {rounds} rounds {cost:+.1%} "
            f"(rounds: {', '.join(f'{c:+.1%}' for c in costs)}; target < 15%)"
        )
    return result, failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events for the ceiling and batched runs")
    parser.add_argument("--rounds", type=int, default=3, help="alternating ceiling / batched rounds")
    parser.add_argument("--seconds", type=int, default=15, help="duration of the single-event runs")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--worker-class", default="gevent", choices=["gevent", "gthread"], help="gunicorn worker class")
    parser.add_argument("--threads", type=int, default=32, help="threads per gthread worker")
    parser.add_argument("--connections", type=int, default=1000, help="concurrent requests per gevent worker")
    parser.add_argument("--tls-rounds", type=int, default=3, help="alternating plain / TLS rounds (0: skip)")
    args = parser.parse_args()

    tls = tlsfiles.write(tempfile.mkdtemp(prefix="bench-tls-"))
    server = PgServer()
    server.init()
    server.enable_ssl(tls["cert"], tls["key"])
    server.start()
    url = server.url()
    conn = psycopg2.connect(url)
    schema.migrate(conn)
    with conn.cursor() as cur:
        cur.execute("SHOW fsync")
        fsync = cur.fetchone()[0]
        cur.execute("SHOW synchronous_commit")
        sync_commit = cur.fetchone()[0]
    conn.close()
    print(f"PostgreSQL on loopback: fsync={fsync} synchronous_commit={sync_commit}; {os.cpu_count()} cores")
    print(f"app: gunicorn {args.workers} {args.worker_class} workers")
    gunicorn = None
    try:
        port = free_port()
        endpoint = Endpoint(port)
        gunicorn = start_gunicorn(args, url, endpoint)
        # Warm up every worker's pool before timing.
        post_bodies(endpoint, [orjson.dumps(make_events(10, f"warm{i}")) for i in range(40)], 8)
        # Every phase starts from an empty table right after a checkpoint.
        reset(url)

        # Ceiling and batched publish alternate, so each ratio compares two measurements
        # taken seconds apart: this shared VM's speed drifts by tens of percent.
        ratios, ceilings, rates, rss_peak, failures = [], [], [], [], []
        for round_ in range(1, args.rounds + 1):
            events = make_events(args.events, f"ceiling{round_}")
            multirow = ceiling_multirow(url, events)
            reset(url)
            copy = ceiling_copy(url, events)
            reset(url)
            ceiling = max(multirow, copy)
            events = make_events(args.events, f"batched{round_}")
            batched, failed, rss = batched_publish(endpoint, events, gunicorn.pid)
            reset(url)
            ceilings.append(ceiling)
            rates.append(batched)
            ratios.append(batched / ceiling)
            rss_peak.append(rss)
            failures += failed
            print(
                f"round {round_}: ceiling (direct, 2 writers) multi-row INSERT {multirow:6.0f}, "
                f"COPY + INSERT SELECT {copy:6.0f} events/s; batched publish {batched:6.0f} events/s "
                f"= {batched / ceiling:.0%}, {len(failed)} failed requests"
            )
        ceiling, batched, ratio = median(ceilings), median(rates), median(ratios)
        print(f"ceiling, direct write, median of {args.rounds} rounds:   {ceiling:9.0f} events/s")
        print(
            f"batched publish, 500/request, 8 clients:     {batched:9.0f} events/s (median); "
            f"median ratio to its round's ceiling {ratio:.0%} (rounds: {', '.join(f'{r:.0%}' for r in ratios)})"
        )
        print(f"app RSS under batched load (gunicorn master + workers): peak {max(rss_peak):.0f} MiB")

        # Same-run baseline: the same gunicorn + Flask answering a request that does nothing.
        baseline, _, _ = wrk_single(endpoint, args.seconds, 64, path="/health")
        print(f"baseline: GET /health (does nothing), 64 clients (wrk): {baseline:9.0f} requests/s")
        reset(url)
        rps, non2xx, p99 = wrk_single(endpoint, args.seconds, 64)
        print(
            f"single-event publish, 64 clients (wrk):       {rps:9.0f} events/s "
            f"= {rps / REFERENCE_EVENTS_PER_SECOND:.1f}x the reference design's 168/s, {non2xx} non-2xx, p99 {p99}"
        )

        print(f"  single-event group commit: {events_per_commit(url):.1f} events per commit")
        reset(url)
        quantiles, achieved, _ = fixed_rate_latencies(Endpoint(port), 1000, args.seconds)
        print(
            f"single-event latency at 1000 events/s offered ({achieved:.0f}/s achieved): "
            f"p50 {quantiles[0.5]:.1f} ms, p95 {quantiles[0.95]:.1f} ms, p99 {quantiles[0.99]:.1f} ms"
        )

        conn = psycopg2.connect(url)
        with conn.cursor() as cur:
            cur.execute(
                "SELECT sum(received), sum(unique_processed), sum(duplicate_dropped), sum(batches) FROM counter_shards"
            )
            received, unique, dup, batches = cur.fetchone()
            cur.execute("SELECT count(*) FROM events")
            rows = cur.fetchone()[0]
        conn.close()
        print(
            f"stats: received {received}, unique {unique}, duplicates {dup}, rows {rows}, batches {batches} "
            f"({received / batches:.1f} events per commit)"
        )
        ok = received == unique + dup and unique == rows
        print("invariant received == unique + duplicates and unique == rows:", "OK" if ok else "VIOLATED")
        gunicorn.terminate()
        gunicorn.wait(30)
        gunicorn = None
        tls_costs, tls_failures = tls_cost(args, server, tls, args.tls_rounds) if args.tls_rounds else ({}, [])
        print(
            json.dumps(
                {
                    "ceiling": round(ceiling),
                    "batched": round(batched),
                    "batched_ratio": round(ratio, 3),
                    "single": round(rps),
                    "p99_ms_at_1000": round(quantiles[0.99], 1),
                    "rss_mib": round(max(rss_peak)),
                    "tls_cost": tls_costs,
                }
            )
        )
        return 0 if ok and not failures and not non2xx and not tls_failures else 1
    finally:
        if gunicorn:
            gunicorn.terminate()
            gunicorn.wait(30)
        server.destroy()


if __name__ == "__main__":
    sys.exit(main())
