"""Settings: defaults here, overridden by AGGREGATOR_* environment variables.

Flask's from_prefixed_env parses values as JSON, so AGGREGATOR_WRITERS=4 is an int.
"""

from . import auth, db

DEFAULTS = {
    # Primary (read-write) database, e.g. through HAProxy's primary port.
    "DATABASE_URL": None,
    # Optional read-only database (HAProxy's replica port) for /events and /stats.
    "READ_DATABASE_URL": None,
    # While the database password rotates: the previous one, tried when the server refuses
    # the password in the URLs (playbooks/rotate_secrets.yml sets it, then removes it).
    "DATABASE_PASSWORD_PREVIOUS": None,
    # Patroni REST API base URLs, tried in order, for /replication.
    "PATRONI_URLS": [],
    # CA that signed the Patroni REST API certificates (None: the system's CAs).
    "PATRONI_CA_FILE": None,
    # Prometheus and Alertmanager base URLs for the GraphQL gateway's alerts, ingest rate
    # and front door (None: those fields answer with an error), the web user and password
    # they want, and the CA their certificates are verified against (None: the system's).
    "PROMETHEUS_URL": None,
    "ALERTMANAGER_URL": None,
    "MONITORING_USER": "pgha",
    "MONITORING_PASSWORD": None,
    "MONITORING_CA_FILE": None,
    # GET /backups also reads the pgBackRest repository (through backup_info() on the
    # primary, which the pgbackrest role creates); False: WAL archiving only.
    "BACKUP_INFO": False,
    # This node's number among the aggregators writing to one database (0 and up):
    # counter shards of different nodes never collide.
    "NODE_ID": 0,
    # Writer threads per process; each owns one connection.
    "WRITERS": 2,
    # Group commit: flush a batch at this many events ...
    "BATCH_MAX_EVENTS": 2000,
    # ... or after this many milliseconds, whichever comes first.
    "BATCH_MAX_WAIT_MS": 2,
    # Events waiting for a writer before new requests get 503 at once.
    "QUEUE_MAX_EVENTS": 100_000,
    # ... or this many bytes of serialized events.
    "QUEUE_MAX_BYTES": 64 * 1024 * 1024,
    # Bytes of request bodies a worker holds at once (declared Content-Length, from the
    # read to the answer); past it POST /publish answers 503 with Retry-After unread.
    # Parsed, a body takes about 23 times its size (bench/memory.py): 32 MiB of bodies
    # peak near 750 MiB above the idle worker.
    "INFLIGHT_MAX_BYTES": 32 * 1024 * 1024,
    # Maximum events in one POST /publish.
    "MAX_EVENTS_PER_REQUEST": 10_000,
    # Maximum request body (Flask answers 413 above it).
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
    # Maximum serialized payload per event.
    "MAX_PAYLOAD_BYTES": 64 * 1024,
    # Topic used when an event has none.
    "DEFAULT_TOPIC": "default",
    # How long a writer retries a batch through a failover before giving up.
    "RETRY_DEADLINE_SECONDS": 30.0,
    # Retry-After sent with 503 answers.
    "RETRY_AFTER_SECONDS": 2,
    # Seconds GET /ready stays 200 after the database last answered: through a planned
    # switchover the writers hold and retry the events, so the balancers must not take
    # every aggregator out and answer 503 themselves. Longer, it says 503.
    "READY_GRACE_SECONDS": 10.0,
    # Cap on GET /events?limit=.
    "EVENTS_LIMIT_MAX": 1000,
    # Default page size of GET /events.
    "EVENTS_LIMIT_DEFAULT": 100,
    # Connections for reads (/events, /stats, /replication, /ready).
    "READ_POOL_SIZE": 8,
    # Days an event is kept (and its key deduplicates): it expires RETENTION_DAYS after
    # the day it arrived (UTC); whole partitions of expired events are dropped.
    "RETENTION_DAYS": 30,
    # Per-topic retention days overriding RETENTION_DAYS: {"audit": 365}, or in the
    # environment audit=365,billing=90.
    "RETENTION_TOPIC_DAYS": {},
    # Daily partitions created beyond the longest retention, so inserts never wait for one.
    "PARTITIONS_AHEAD_DAYS": 7,
    # Create or migrate the schema when the pool starts (the CLI does it too).
    "AUTO_MIGRATE": True,
    # Seconds between an instance's records that it serves (GET /stats uptime).
    "UPTIME_HEARTBEAT_SECONDS": 5,
    # Seconds a database connection attempt may take.
    "CONNECT_TIMEOUT": 3,
    # Bearer tokens per scope (lists, or comma-separated in the environment); two at once
    # during a rotation. With AUTH_REQUIRED the app refuses to start without them.
    "AUTH_REQUIRED": True,
    "WRITE_TOKENS": [],
    "READ_TOKENS": [],
    "METRICS_TOKENS": [],
}


def load(app, overrides=None):
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env("AGGREGATOR")
    if overrides:
        app.config.update(overrides)
    for scope in auth.SCOPES:
        app.config[auth.config_key(scope)] = auth.tokens(app.config[auth.config_key(scope)])
    missing = [auth.config_key(s) for s in auth.SCOPES if not app.config[auth.config_key(s)]]
    if app.config["AUTH_REQUIRED"] and missing:
        raise RuntimeError(
            f"no bearer tokens configured: set AGGREGATOR_{', AGGREGATOR_'.join(missing)} "
            "(or AGGREGATOR_AUTH_REQUIRED=false for an unauthenticated development server)"
        )
    # A password of digits arrives parsed as a number.
    if app.config["MONITORING_PASSWORD"] is not None:
        app.config["MONITORING_PASSWORD"] = str(app.config["MONITORING_PASSWORD"])
    previous = app.config["DATABASE_PASSWORD_PREVIOUS"]
    for key in ("DATABASE_URL", "READ_DATABASE_URL"):
        if previous is not None and app.config[key]:
            app.config[key] = db.with_previous_password(app.config[key], str(previous))
    _check_retention(app.config)
    if isinstance(app.config["PATRONI_URLS"], str):
        app.config["PATRONI_URLS"] = [u.strip() for u in app.config["PATRONI_URLS"].split(",") if u.strip()]


def _positive_days(value):
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 36_500


def _topic_days(text):
    found = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        topic, _, days = item.partition("=")
        found[topic.strip()] = int(days) if days.strip().isdigit() else days
    return found


def _check_retention(settings):
    """Refuse to start on a retention that would drop events too early or never."""
    for key in ("RETENTION_DAYS", "PARTITIONS_AHEAD_DAYS"):
        if not _positive_days(settings[key]):
            raise RuntimeError(
                f"AGGREGATOR_{key} must be a whole number of days from 1 to 36500, not {settings[key]!r}"
            )
    overrides = settings["RETENTION_TOPIC_DAYS"]
    if isinstance(overrides, str):  # topic=days,topic=days (the deployment's environment file)
        overrides = settings["RETENTION_TOPIC_DAYS"] = _topic_days(overrides)
    if not isinstance(overrides, dict) or not all(
        isinstance(t, str) and _positive_days(d) for t, d in overrides.items()
    ):
        raise RuntimeError(
            f"AGGREGATOR_RETENTION_TOPIC_DAYS must be a JSON object of topic: days (1 to 36500), not {overrides!r}"
        )
