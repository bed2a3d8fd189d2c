"""Per-process resources, created on first use: after gunicorn forks its workers."""

import atexit
import threading
import time

from flask import current_app

from . import db, green, partitions, schema
from .budget import ByteBudget
from .ingest import IngestPool
from .monitoring import MonitoringClient
from .uptime import Heartbeat


class Runtime:
    def __init__(self, config):
        self.config = config
        # Under gevent workers, database waits must yield to the hub (see green.py).
        green.install()
        self.started = time.time()
        self._lock = threading.RLock()  # the heartbeat starts with the ingestion pool
        self._ingest = None
        self._reads = None
        self._primary_reads = None
        self._monitoring = None
        self._heartbeat = None
        self.body_budget = ByteBudget(config["INFLIGHT_MAX_BYTES"])
        self._ready_answer_at = float("-inf")  # time.monotonic() of /ready's last database answer

    def _require_url(self):
        if not self.config.get("DATABASE_URL"):
            raise RuntimeError("AGGREGATOR_DATABASE_URL is not set")
        return self.config["DATABASE_URL"]

    @property
    def ingest(self):
        if self._ingest is None:
            with self._lock:
                if self._ingest is None:
                    url = self._require_url()
                    if self.config["AUTO_MIGRATE"]:
                        self.migrate(url)
                    pool = IngestPool(self.config)
                    pool.start()
                    _ = self.heartbeat  # a writing instance says it serves
                    atexit.register(pool.close)
                    self._ingest = pool
        return self._ingest

    def writers_alive(self):
        """(running writers, configured writers) of the ingestion pool; before the first
        publish starts it, none has died: (configured, configured)."""
        if self._ingest is None:
            return self.config["WRITERS"], self.config["WRITERS"]
        return self._ingest.writers_alive()

    def database_answered(self):
        """/ready read the database just now."""
        self._ready_answer_at = time.monotonic()

    def database_silent_for(self):
        """Seconds since the database last answered this process (a /ready read or a
        committed batch); infinite when it never has."""
        last = max(self._ready_answer_at, self._ingest.last_commit_at if self._ingest is not None else float("-inf"))
        return time.monotonic() - last

    @property
    def reads(self):
        """Reads for /events and /stats: the replica URL when configured."""
        if self._reads is None:
            with self._lock:
                if self._reads is None:
                    url = self.config.get("READ_DATABASE_URL") or self._require_url()
                    self._reads = db.ReadPool(url, self.config["READ_POOL_SIZE"], self.config["CONNECT_TIMEOUT"])
        return self._reads

    @property
    def heartbeat(self):
        """This instance's uptime heartbeat, started on first use (after migrations)."""
        if self._heartbeat is None:
            with self._lock:
                if self._heartbeat is None:
                    url = self._require_url()
                    if self.config["AUTO_MIGRATE"]:
                        self.migrate(url)
                    beat = Heartbeat(
                        url, self.config["CONNECT_TIMEOUT"], self.started, self.config["UPTIME_HEARTBEAT_SECONDS"]
                    )
                    beat.start()
                    self._heartbeat = beat
        return self._heartbeat

    @property
    def primary_reads(self):
        """Reads that must come from the primary (/replication, /ready)."""
        if not self.config.get("READ_DATABASE_URL"):
            return self.reads
        if self._primary_reads is None:
            with self._lock:
                if self._primary_reads is None:
                    self._primary_reads = db.ReadPool(self._require_url(), 2, self.config["CONNECT_TIMEOUT"])
        return self._primary_reads

    @property
    def monitoring(self):
        """Prometheus and Alertmanager, for the GraphQL gateway."""
        if self._monitoring is None:
            self._monitoring = MonitoringClient(self.config)
        return self._monitoring

    def migrate(self, url=None, switch=True):
        conn = db.connect(url or self._require_url(), self.config["CONNECT_TIMEOUT"])
        try:
            return schema.migrate(conn, self.config, switch=switch)
        finally:
            conn.close()

    def maintain(self):
        """One retention run (partitions.run) on the primary."""
        conn = db.connect(self._require_url(), self.config["CONNECT_TIMEOUT"])
        try:
            return partitions.run(conn, self.config)
        finally:
            conn.close()

    def close(self):
        if self._heartbeat is not None:
            self._heartbeat.stop()
        if self._ingest is not None:
            self._ingest.close()
        for pool in (self._reads, self._primary_reads):
            if pool is not None:
                pool.close()


def current_runtime():
    """The Runtime of the app handling this request (create_app keeps it in extensions)."""
    return current_app.extensions["aggregator"]
