"""The ingestion pool: requests queue their events, writer threads group-commit them.

Each writer takes whatever many concurrent requests have queued (up to
BATCH_MAX_EVENTS, waiting at most BATCH_MAX_WAIT_MS for more), writes it with one
INSERT ... ON CONFLICT (topic, event_id) DO NOTHING RETURNING plus its counter
update in the same transaction, commits, and only then wakes each request with its
own result. Lost connections (failover) are retried with backoff until a deadline;
retrying is safe because the insert is idempotent.

A 503 means "not stored": a request whose wait ends while its events are still queued
withdraws them, so no writer ever commits them; once a writer took them, the request
waits for that writer's outcome, which its deadline (counted from the oldest request
of the batch) bounds. A writer that meets an error of any kind answers its batch 503,
logs it and goes on with a new connection; `writers_alive()` is what /ready counts.
"""

import contextlib
import logging
import os
import random
import threading
import time
from collections import deque

import orjson
import psycopg2
import psycopg2.errors

from . import db, green, metrics, partitions
from .config import DEFAULTS

log = logging.getLogger(__name__)

# Row positions say which request carried each inserted key, so only one small row per
# request comes back (no per-event keys to build and match in Python). A key carried
# twice in one batch is inserted from its first position (the function scan keeps input
# order) and credited to the request at that position.
INPUT = """
WITH input AS (
    SELECT r.*, %(today)s::date + coalesce((%(topic_days)s::jsonb ->> r.topic)::int, %(days)s) AS expires_on
    FROM ROWS FROM (
        json_to_recordset(%(rows)s::json)
            AS (topic text, event_id text, "timestamp" timestamptz, source text, payload jsonb)
    ) WITH ORDINALITY AS r(topic, event_id, ts, source, payload, position)
)"""

COUNT_AND_CREDIT = """
, per_topic AS (
    INSERT INTO topic_counter_shards AS t (topic, shard, events)
    SELECT topic, %(shard)s, count(*) FROM inserted GROUP BY topic
    ON CONFLICT (topic, shard) DO UPDATE SET events = t.events + excluded.events
), totals AS (
    INSERT INTO counter_shards AS c (shard, received, unique_processed, duplicate_dropped, batches)
    SELECT %(shard)s, %(count)s, count(*), %(count)s - count(*), 1 FROM inserted
    ON CONFLICT (shard) DO UPDATE SET
        received = c.received + excluded.received,
        unique_processed = c.unique_processed + excluded.unique_processed,
        duplicate_dropped = c.duplicate_dropped + excluded.duplicate_dropped,
        batches = c.batches + 1
)
SELECT width_bucket(first, %(starts)s::bigint[]) - 1 AS submission, count(*)
FROM (
    SELECT min(input.position) AS first
    FROM inserted JOIN input USING (topic, event_id)
    GROUP BY topic, event_id
) AS carriers
GROUP BY 1
"""

# Partitioned events (schema 6 on): the key table decides what is new, across every
# partition; only new events are written, into their expiry day's partition. In key
# order: concurrent batches that share keys then take their locks in one order and wait
# for each other instead of deadlocking (a 1 s stall and a retry).
INSERT_PARTITIONED = (
    INPUT
    + """
, fresh AS (
    INSERT INTO event_ids (topic, event_id, expires_on)
    SELECT topic, event_id, expires_on FROM input ORDER BY topic, event_id
    ON CONFLICT (topic, event_id) DO NOTHING
    RETURNING topic, event_id
), inserted AS (
    INSERT INTO events (topic, event_id, ts, source, payload, expires_on)
    SELECT DISTINCT ON (topic, event_id) topic, event_id, ts, source, payload, expires_on
    FROM fresh JOIN input USING (topic, event_id)
    ORDER BY topic, event_id, position
    RETURNING topic, event_id
)"""
    + COUNT_AND_CREDIT
)

# Schemas 4 and 5 (until the second `migrate --switch`): the digest key table decides;
# from schema 5 on, a trigger copies the new events' keys into event_ids.
INSERT_DIGEST_KEYS = (
    INPUT
    + """
, keyed AS (
    SELECT *, event_key(topic, event_id) AS key FROM input
), fresh AS (
    INSERT INTO event_keys (key, expires_on)
    SELECT key, expires_on FROM keyed ORDER BY key
    ON CONFLICT (key) DO NOTHING
    RETURNING key
), inserted AS (
    INSERT INTO events (topic, event_id, ts, source, payload, expires_on)
    SELECT DISTINCT ON (key) topic, event_id, ts, source, payload, expires_on
    FROM fresh JOIN keyed USING (key)
    ORDER BY key, position
    RETURNING topic, event_id
)"""
    + COUNT_AND_CREDIT
)

# The unpartitioned table of schemas 1 to 3 (until `migrate --switch`): its primary key
# decides; from schema 3 on, a trigger copies the new keys into event_keys.
INSERT_UNPARTITIONED = (
    INPUT
    + """
, inserted AS (
    INSERT INTO events (topic, event_id, ts, source, payload)
    SELECT topic, event_id, ts, source, payload FROM input ORDER BY topic, event_id
    ON CONFLICT (topic, event_id) DO NOTHING
    RETURNING topic, event_id
)"""
    + COUNT_AND_CREDIT
)

# Which statement the schema takes: unpartitioned (1-3), digest keys (4-5), text keys (6).
SCHEMA_SHAPE = """
SELECT CASE WHEN relkind <> 'p' THEN 'unpartitioned'
            WHEN to_regclass('event_keys') IS NOT NULL THEN 'digest' ELSE 'text' END
FROM pg_class WHERE oid = 'events'::regclass
"""
STATEMENTS = {"unpartitioned": INSERT_UNPARTITIONED, "digest": INSERT_DIGEST_KEYS, "text": INSERT_PARTITIONED}

# Besides lost connections: a primary that was just demoted answers read-only; the
# unpartitioned statement meets the table `migrate --switch` just partitioned, and the
# digest statement the key table and function the second switch just dropped.
RETRYABLE = (
    *db.RETRYABLE,
    psycopg2.errors.ReadOnlySqlTransaction,
    psycopg2.errors.InvalidColumnReference,
    psycopg2.errors.UndefinedTable,
    psycopg2.errors.UndefinedFunction,
)
# SQLSTATE classes that speak of the events themselves (a value PostgreSQL cannot store,
# a constraint, a key too large for the index): only these are the client's fault.
# Anything else (a missing table after a bad deploy, permissions, out of disk) is ours.
EVENT_ERROR_CLASSES = ("22", "23", "54")
# A writer's waits between attempts on a broken database: doubling from the first, up
# to the most. Short enough that a batch held through a switchover commits within half
# a second of the new primary, long enough that a failover's seconds cost a few
# connection attempts per writer.
RETRY_BACKOFF_FIRST = 0.05
RETRY_BACKOFF_MAX = 0.5


class QueueFull(Exception):
    """The queue holds QUEUE_MAX_EVENTS events or QUEUE_MAX_BYTES bytes already."""


class Unavailable(Exception):
    """The database could not take the events before the deadline."""


class Rejected(Exception):
    """The database refused the events themselves (not retryable)."""


class Submission:
    """One request's events (serialized rows) and, once committed, its result."""

    __slots__ = ("rows", "weight", "done", "unique", "duplicates", "error", "queued_at", "taken")

    def __init__(self, rows):
        self.rows = rows
        self.weight = sum(len(row) for row in rows)  # bytes the queue holds for it
        self.done = threading.Event()
        self.unique = 0
        self.duplicates = 0
        self.error = None
        self.queued_at = time.monotonic()
        self.taken = False  # a writer has it: only that writer's outcome answers it

    def __len__(self):
        return len(self.rows)

    def finish(self, unique=0, error=None):
        self.unique = unique
        self.duplicates = len(self.rows) - unique
        self.error = error
        self.done.set()


class BatchQueue:
    """FIFO of submissions bounded by the number of queued events and their bytes."""

    def __init__(self, capacity, max_bytes=None, gauge=None):
        self._capacity = capacity
        self._max_bytes = max_bytes
        # The pool's queue counts into aggregator_queue_events; a queue of its own (a
        # test's) leaves that process-wide gauge alone.
        self._gauge = gauge
        self._items = deque()
        self._events = 0
        self._bytes = 0
        self._closed = False
        self._cond = threading.Condition()

    @property
    def depth(self):
        return self._events

    def put(self, submission):
        with self._cond:
            if self._closed:
                raise Unavailable("the ingestion pool is shutting down")
            size, weight = len(submission), submission.weight
            # An empty queue always accepts, so one maximal request is never refused.
            too_many = self._events + size > self._capacity
            too_big = self._max_bytes is not None and self._bytes + weight > self._max_bytes
            if self._events and (too_many or too_big):
                raise QueueFull
            self._items.append(submission)
            self._events += size
            self._bytes += weight
            self._count(size)
            self._cond.notify()

    def take(self, max_events, max_wait):
        """Block for the first submission, then gather more for up to max_wait seconds.
        Returns [] only once the queue is closed and empty: while this writer waited for
        more, another may have taken everything (or a request withdrawn its events), and
        then this one waits again instead of ending."""
        with self._cond:
            while True:
                while not self._items:
                    if self._closed:
                        return []
                    self._cond.wait(0.5)
                deadline = time.monotonic() + max_wait
                while self._events < max_events and not self._closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                batch, count = [], 0
                while self._items and (not batch or count + len(self._items[0]) <= max_events):
                    submission = self._items.popleft()
                    submission.taken = True
                    batch.append(submission)
                    count += len(submission)
                    self._bytes -= submission.weight
                self._events -= count
                self._count(-count)
                if self._items:
                    self._cond.notify()
                if batch:
                    return batch

    def withdraw(self, submission):
        """Take a submission back out of the queue: True when no writer has it (it will
        never be committed), False when one took it already."""
        with self._cond:
            if submission.taken:
                return False
            self._items.remove(submission)
            self._events -= len(submission)
            self._bytes -= submission.weight
            self._count(-len(submission))
            return True

    def _count(self, events):
        if self._gauge is not None:
            self._gauge.inc(events)

    def close(self):
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def retention_parameters(settings):
    """The statement's expiry parameters from the app's settings."""
    return {"days": settings["RETENTION_DAYS"], "topic_days": orjson.dumps(settings["RETENTION_TOPIC_DAYS"]).decode()}


def write_batch(conn, batch, shard, statement=INSERT_PARTITIONED, retention=None):
    """Insert and count the batch in one transaction, commit, then wake each request
    with its own result. `retention`: retention_parameters() (the defaults' if None)."""
    retention = retention or retention_parameters(DEFAULTS)
    rows, starts = [], []
    for submission in batch:
        starts.append(len(rows) + 1)
        rows.extend(submission.rows)
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(
            statement,
            {
                "rows": (b"[" + b",".join(rows) + b"]").decode(),
                "starts": starts,
                "shard": shard,
                "count": len(rows),
                "today": partitions.today(),
                **retention,
            },
        )
        unique = dict(cur.fetchall())
    conn.commit()
    inserted = sum(unique.values())
    metrics.COMMIT_SECONDS.observe(time.perf_counter() - started)
    metrics.BATCH_EVENTS.observe(len(rows))
    metrics.BATCHES.inc()
    metrics.UNIQUE.inc(inserted)
    metrics.DUPLICATES.inc(len(rows) - inserted)
    for index, submission in enumerate(batch):
        submission.finish(unique.get(index, 0))


SHARDS_PER_NODE = 1024


def counter_shard(node_id, pid, writer):
    """The counter row a writer updates: writers rarely share a hot row, and writers of
    different nodes (whose process ids repeat) never share one."""
    return node_id * SHARDS_PER_NODE + (pid * 8 + writer) % SHARDS_PER_NODE


class IngestPool:
    def __init__(self, config):
        self._url = config["DATABASE_URL"]
        self._timeout = config["CONNECT_TIMEOUT"]
        self._writers = config["WRITERS"]
        self._node_id = config["NODE_ID"]
        self._max_events = config["BATCH_MAX_EVENTS"]
        self._max_wait = config["BATCH_MAX_WAIT_MS"] / 1000.0
        self._deadline = config["RETRY_DEADLINE_SECONDS"]
        self._config = config
        self.retention = retention_parameters(config)
        # Which statement the schema takes (SCHEMA_SHAPE): read on first use and again
        # after a retryable error, since a switch can happen while the pool runs.
        self._shape = None
        self.queue = BatchQueue(config["QUEUE_MAX_EVENTS"], config.get("QUEUE_MAX_BYTES"), metrics.QUEUE_DEPTH)
        # One connection per writer, held while it works and replaced when it breaks.
        self._connections = db.pool(self._url, self._writers, self._timeout)
        self._threads = []
        self.last_commit_at = float("-inf")  # time.monotonic() of the last committed batch
        metrics.QUEUE_CAPACITY.set(config["QUEUE_MAX_EVENTS"])

    def start(self):
        for index in range(self._writers):
            shard = counter_shard(self._node_id, os.getpid(), index)
            thread = threading.Thread(target=self._run, args=(shard,), name=f"writer-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def submit(self, rows, timeout):
        """Queue serialized events and wait until they are committed; returns (unique,
        duplicates). Unavailable means nothing of them was or will be stored."""
        submission = Submission(rows)
        self.queue.put(submission)
        if not submission.done.wait(timeout):
            if self.queue.withdraw(submission):
                raise Unavailable("no writer took the events in time; nothing was stored")
            submission.done.wait()  # a writer has them: its deadline bounds this wait
        if submission.error is not None:
            raise submission.error
        return submission.unique, submission.duplicates

    def writers_alive(self):
        """(running writers, configured writers)."""
        return sum(1 for t in self._threads if t.is_alive()), self._writers

    def close(self, timeout=30):
        """Stop taking events, write what is queued, stop the writers."""
        self.queue.close()
        for thread in self._threads:
            thread.join(timeout)
        if not self._connections.closed:  # close() runs again at exit
            self._connections.closeall()

    def _run(self, shard):
        conn = None
        while True:
            batch = self.queue.take(self._max_events, self._max_wait)
            if not batch:
                break
            taken = time.monotonic()
            for submission in batch:
                metrics.QUEUE_WAIT_SECONDS.observe(taken - submission.queued_at)
            try:
                conn = self._write_with_retry(conn, batch, shard)
            except Exception:  # whatever it is: answer the batch, log, go on afresh
                log.exception("writer %s failed on a batch of %d requests", threading.current_thread().name, len(batch))
                metrics.DB_ERRORS.inc()
                conn = self._release(conn, broken=True)
                _fail([s for s in batch if not s.done.is_set()])
        self._release(conn)

    def _checkout(self, conn):
        """The writer's connection, or a new one from the pool when it broke."""
        if conn is not None and not conn.closed:
            return conn
        self._release(conn)
        with green.deadline(self._timeout):
            return self._connections.getconn()

    def _statement(self, conn):
        if self._shape is None:
            with conn.cursor() as cur:
                cur.execute(SCHEMA_SHAPE)
                self._shape = cur.fetchone()[0]
        return STATEMENTS[self._shape]

    def _release(self, conn, broken=False):
        if conn is not None:
            with contextlib.suppress(psycopg2.Error):
                self._connections.putconn(conn, close=broken or conn.closed != 0)
        return None

    def _write_with_retry(self, conn, batch, shard):
        # Counted from the oldest request: every request is answered within the deadline
        # (plus one attempt) of its arrival, however long it queued.
        deadline = min(s.queued_at for s in batch) + self._deadline
        attempt = 0
        while True:
            try:
                conn = self._checkout(conn)
                write_batch(conn, batch, shard, self._statement(conn), self.retention)
                self.last_commit_at = time.monotonic()
                return conn
            except psycopg2.errors.DiskFull as exc:
                # Not over in seconds, and nothing is stored meanwhile: answer 503 at
                # once rather than hold the requests (and the queue) for the deadline.
                metrics.DB_ERRORS.inc()
                log.error("the database's disk is full: %s", str(exc).strip())
                conn.rollback()
                _fail(batch)
                return conn
            except RETRYABLE as exc:
                metrics.DB_ERRORS.inc()
                self._shape = None
                conn = self._release(conn, broken=True)
                if time.monotonic() >= deadline:
                    log.warning("giving up on a batch of %d requests: %s", len(batch), exc)
                    _fail(batch)
                    return conn
                metrics.RETRIES.inc()
                time.sleep(min(RETRY_BACKOFF_MAX, RETRY_BACKOFF_FIRST * 2**attempt) * random.uniform(0.5, 1.0))
                attempt += 1
            except psycopg2.Error as exc:
                metrics.DB_ERRORS.inc()
                if conn is None:  # no connection to be had, e.g. an invalid database URL
                    log.error("cannot get a database connection: %s", exc)
                    _fail(batch)
                    return None
                conn.rollback()
                if _missing_partition(exc) and time.monotonic() < deadline:
                    # The retention timer has not run for longer than the days created
                    # ahead: create what is missing and write again.
                    partitions.ensure(conn, self._config)
                    continue
                if (exc.pgcode or "")[:2] not in EVENT_ERROR_CLASSES:
                    log.error("database error not caused by the events (SQLSTATE %s): %s", exc.pgcode, exc)
                    _fail(batch)
                    return conn
                if len(batch) == 1:
                    batch[0].finish(error=Rejected(str(exc).strip()))
                    return conn
                # Isolate the request the database refuses; the others still commit.
                for submission in batch:
                    conn = self._write_with_retry(conn, [submission], shard)
                return conn


def _missing_partition(exc):
    return isinstance(exc, psycopg2.errors.CheckViolation) and "no partition of relation" in str(exc)


def _fail(batch):
    """Answer every request of the batch 503: nothing of it was committed."""
    for submission in batch:
        submission.finish(error=Unavailable("database unavailable"))
