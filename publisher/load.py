"""Load generator and at-least-once client for POST /publish.

    python -m publisher --url https://127.0.0.1:8080 --cacert ca.crt --events 20000

Sends events with a share of duplicates, retries timeouts and 503s with exponential
backoff and jitter, prints throughput, end-to-end latency percentiles (first send to
acknowledgement, retries and backoff included), the attempts made and the longest gap
between acknowledgements, and checks the server's /stats deltas against what it sent
(exit code 1 on a mismatch).
With --ack-log it writes every acknowledged event (topic, event_id, ack time), and an
event counts as acknowledged only once its line is written and flushed: a publisher
killed at any moment has logged at least every acknowledgement it counted.
"""

import argparse
import collections
import http.client
import json
import os
import random
import ssl
import threading
import time
import urllib.parse
import uuid


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="publisher", description=__doc__.splitlines()[0])
    p.add_argument("--url", default="https://127.0.0.1:8080", help="aggregator base URL (https or http)")
    p.add_argument("--cacert", default=os.environ.get("AGGREGATOR_CA_FILE"),
                   help="CA of the API's certificate (default: $AGGREGATOR_CA_FILE, else the system's)")  # fmt: skip
    p.add_argument("--events", type=int, default=20_000, help="events to send, duplicates included")
    p.add_argument("--duplicate-rate", type=float, default=0.3, help="share of events that repeat an earlier one")
    p.add_argument("--topics", type=int, default=4, help="number of topics")
    p.add_argument("--batch-size", type=int, default=500, help="events per request (1 sends single objects)")
    p.add_argument("--concurrency", type=int, default=8, help="concurrent connections")
    p.add_argument("--rate", type=float, default=0, help="target events/s (0: as fast as possible)")
    p.add_argument("--retries", type=int, default=10, help="retries per request on timeout or 503")
    p.add_argument("--timeout", type=float, default=60, help="seconds per request")
    p.add_argument("--ack-log", help="file to write acknowledged events to (topic<TAB>event_id<TAB>ack time)")
    p.add_argument("--run-id", default=None, help="prefix of the event ids (default: random)")
    p.add_argument("--stop-file", help="stop sending (and report) once this file exists")
    p.add_argument("--progress", type=float, default=0, help="print the acknowledged count every N seconds")
    p.add_argument("--no-verify", action="store_true", help="skip the /stats check (other publishers running)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--token", default=os.environ.get("AGGREGATOR_PUBLISH_TOKEN"),
                   help="write token for POST /publish (default: $AGGREGATOR_PUBLISH_TOKEN)")  # fmt: skip
    p.add_argument("--read-token", default=os.environ.get("AGGREGATOR_READ_TOKEN"),
                   help="read token for the /stats check (default: $AGGREGATOR_READ_TOKEN)")  # fmt: skip
    args = p.parse_args(argv)
    if not 0 <= args.duplicate_rate < 1:
        p.error("--duplicate-rate must be in [0, 1)")
    if args.events < 1 or args.batch_size < 1 or args.concurrency < 1 or args.topics < 1:
        p.error("--events, --batch-size, --concurrency and --topics must be positive")
    return args


def make_events(total, duplicate_rate, topics, run_id, rng):
    """Unique events plus duplicates of them, shuffled; returns (events, unique count)."""
    unique_count = max(1, round(total * (1 - duplicate_rate)))
    uniques = [
        {"topic": f"topic-{i % topics}", "event_id": f"{run_id}-{i}", "source": "publisher", "payload": {"n": i}}
        for i in range(unique_count)
    ]
    events = uniques + rng.choices(uniques, k=total - unique_count)
    rng.shuffle(events)
    return events, unique_count


class Client:
    """One persistent HTTP(S) connection, sending a bearer token when given one. HTTPS
    verifies the server against `cafile` (or the system's CAs) and its name."""

    def __init__(self, url, timeout, token=None, cafile=None):
        parsed = urllib.parse.urlsplit(url)
        self.https = parsed.scheme == "https"
        self.host, self.port = parsed.hostname, parsed.port or (443 if self.https else 80)
        self.context = ssl.create_default_context(cafile=cafile) if self.https else None
        self.timeout = timeout
        self.token = token
        self.conn = None

    def _connect(self):
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.context)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(self, method, path, body=None):
        if self.conn is None:
            self.conn = self._connect()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            return response.status, response.read(), response.getheader("Retry-After")
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise


class Publisher:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.latencies = []  # per acknowledged request: first send to acknowledgement
        self.last_attempt_latencies = []  # per acknowledged request: the successful attempt alone
        self.ack_times = []
        self.acked = 0
        self.attempts = 0
        self.retried_requests = 0
        # Attempts that got no acknowledgement, by what came back: an HTTP status, or
        # "connection" when the connection broke or timed out before any answer.
        self.failed_attempts = collections.Counter()
        self.failed = []
        self.ack_file = open(args.ack_log, "a", encoding="utf-8") if args.ack_log else None  # noqa: SIM115

    def acknowledge(self, batch, started, first_sent):
        """Log the batch (written and flushed to the kernel, so it survives a SIGKILL of
        this process), then count it: never counted without being in the log."""
        ack_time, acked_at = time.time(), time.perf_counter()
        with self.lock:
            if self.ack_file:
                self.ack_file.writelines(f"{e['topic']}\t{e['event_id']}\t{ack_time:.3f}\n" for e in batch)
                self.ack_file.flush()
            self.latencies.append(acked_at - first_sent)
            self.last_attempt_latencies.append(acked_at - started)
            self.ack_times.append(acked_at)
            self.acked += len(batch)

    def send(self, client, batch, rng):
        body = json.dumps(batch[0] if self.args.batch_size == 1 else batch).encode()
        first_sent = time.perf_counter()
        for attempt in range(self.args.retries + 1):
            started = time.perf_counter()
            with self.lock:
                self.attempts += 1
            try:
                status, payload, retry_after = client.request("POST", "/publish", body)
            except (OSError, http.client.HTTPException) as exc:
                status, payload, retry_after = None, str(exc).encode(), None
            if status == 202:
                self.acknowledge(batch, started, first_sent)
                if attempt:
                    with self.lock:
                        self.retried_requests += 1
                return
            with self.lock:
                self.failed_attempts[str(status) if status is not None else "connection"] += 1
            if status is not None and status not in (503, 429):
                with self.lock:
                    self.failed.append((status, payload[:300]))
                return
            delay = min(5.0, 0.1 * 2**attempt) * rng.uniform(0.5, 1.5)
            if retry_after and retry_after.isdigit():
                delay = max(delay, float(retry_after) * rng.uniform(0.5, 1.0))
            time.sleep(delay)
        with self.lock:
            self.failed.append((status, b"gave up after retries: " + payload[:200]))

    def run(self, events):
        batches = [events[i : i + self.args.batch_size] for i in range(0, len(events), self.args.batch_size)]
        cursor = iter(enumerate(batches))
        cursor_lock = threading.Lock()
        started = time.monotonic()

        def worker(seed):
            rng = random.Random(seed)
            client = Client(self.args.url, self.args.timeout, self.args.token, self.args.cacert)
            while True:
                if self.args.stop_file and os.path.exists(self.args.stop_file):
                    return
                with cursor_lock:
                    item = next(cursor, None)
                if item is None:
                    return
                index, batch = item
                if self.args.rate:
                    # Fixed offered rate: each batch has its own send time.
                    delay = started + index * self.args.batch_size / self.args.rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                self.send(client, batch, rng)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(self.args.concurrency)]
        for t in threads:
            t.start()
        while self.args.progress and any(t.is_alive() for t in threads):
            time.sleep(self.args.progress)
            print(f"acknowledged so far: {self.acked}", flush=True)
        for t in threads:
            t.join()
        if self.ack_file:
            self.ack_file.close()
        return time.monotonic() - started


def get_stats(url, timeout, token, cafile=None):
    status, body, _ = Client(url, timeout, token, cafile).request("GET", "/stats")
    if status != 200:
        raise RuntimeError(f"GET /stats answered {status}: {body[:200]!r}")
    return json.loads(body)


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def longest_gap(times, start, end):
    """Longest stretch in [start, end] without an acknowledgement."""
    edges = [start, *sorted(times), end]
    return max(b - a for a, b in zip(edges, edges[1:], strict=False))


def milliseconds(values):
    return "p50 {:.1f}  p95 {:.1f}  p99 {:.1f}  max {:.1f}".format(
        *(1000 * percentile(values, q) for q in (0.5, 0.95, 0.99, 1.0))
    )


def main(argv=None):
    args = parse_args(argv)
    rng = random.Random(args.seed)
    run_id = args.run_id or uuid.uuid4().hex[:12]
    events, unique_count = make_events(args.events, args.duplicate_rate, args.topics, run_id, rng)
    before = None if args.no_verify else get_stats(args.url, args.timeout, args.read_token, args.cacert)
    publisher = Publisher(args)
    started = time.perf_counter()
    elapsed = publisher.run(events)
    print(f"run {run_id}: sent {len(events)} events ({unique_count} unique) in {elapsed:.2f} s")
    print(f"throughput: {publisher.acked / elapsed:.0f} events/s acknowledged, {len(publisher.latencies)} requests")
    print(f"request latency ms, first send to acknowledgement: {milliseconds(publisher.latencies)}")
    print(f"last attempt only ms (retries excluded): {milliseconds(publisher.last_attempt_latencies)}")
    print(
        f"attempts: {publisher.attempts}, retried requests: {publisher.retried_requests}, "
        f"failed requests: {len(publisher.failed)}"
    )
    causes = ", ".join(f"{cause} {n}" for cause, n in sorted(publisher.failed_attempts.items())) or "none"
    print(f"attempts without an acknowledgement: {causes}")
    gap = longest_gap(publisher.ack_times, started, started + elapsed)
    print(f"longest gap between acknowledgements: {gap:.2f} s")
    ok = not publisher.failed
    for status, body in publisher.failed[:5]:
        print(f"  failed: {status} {body!r}")
    if before is not None:
        after = get_stats(args.url, args.timeout, args.read_token, args.cacert)
        received = after["received"] - before["received"]
        unique = after["unique_processed"] - before["unique_processed"]
        duplicates = after["duplicate_dropped"] - before["duplicate_dropped"]
        print(f"stats delta: received {received}, unique_processed {unique}, duplicate_dropped {duplicates}")
        if unique != unique_count:
            print(f"MISMATCH: {unique_count} unique events sent, unique_processed grew by {unique}")
            ok = False
        if publisher.retried_requests == 0 and received != len(events):
            print(f"MISMATCH: {len(events)} events sent without retries, received grew by {received}")
            ok = False
        if received != unique + duplicates:
            print("MISMATCH: received != unique_processed + duplicate_dropped")
            ok = False
    print("result: OK" if ok else "result: FAILED")
    return 0 if ok else 1
