"""The service's uptime as every client sees it, through any instance: counted from the
start of the oldest instance of an unbroken run of the service, which the instances
record in the database. A process's own age would jump between instances behind the
balancer (measured: 8.4, 9.9, 8.6, 10.1 s on consecutive requests); this never runs
backwards while some instance serves. After a full outage (no instance heard from for
three heartbeats) it starts again from the first instance back.
"""

import logging
import threading

import psycopg2

from . import db

log = logging.getLogger(__name__)

# One row: since when the service has served without a break, and when an instance last said so.
BEAT = """
INSERT INTO service_uptime AS u (id, since, seen_at) VALUES (true, to_timestamp(%(started)s), now())
ON CONFLICT (id) DO UPDATE SET
    since = CASE WHEN u.seen_at < now() - make_interval(secs => %(gap)s) THEN excluded.since ELSE u.since END,
    seen_at = now()
"""
# Seconds since the run began, read by GET /stats; NULL while no instance beat lately.
SINCE = (
    "SELECT extract(epoch FROM now() - since)::float8 FROM service_uptime"
    " WHERE seen_at >= now() - make_interval(secs => %(gap)s)"
)


class Heartbeat:
    """Beats once at start (before the first answer could read it), then every `period`
    in its own thread."""

    def __init__(self, url, timeout, started, period):
        self.url, self.timeout, self.started, self.period = url, timeout, started, period
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="uptime-heartbeat", daemon=True)

    @property
    def gap(self):
        """Seconds without a beat after which the service counts as having been down."""
        return 3 * self.period

    def start(self):
        self.beat()
        self._thread.start()

    def _run(self):
        while not self._halt.wait(self.period):
            self.beat()

    def beat(self):
        try:
            conn = db.connect(self.url, self.timeout)
            try:
                with conn, conn.cursor() as cur:
                    cur.execute(BEAT, {"started": self.started, "gap": self.gap})
            finally:
                conn.close()
        except psycopg2.Error as exc:  # the database is away: the next beat tries again
            log.warning("uptime heartbeat failed: %s", str(exc).strip())

    def stop(self):
        self._halt.set()
