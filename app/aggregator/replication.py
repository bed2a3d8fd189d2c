"""Replication health as the reference design defines it, computed on the primary."""

import json
import ssl
import urllib.error
import urllib.request

MB = 1024 * 1024
HEALTHY_MAX_SECONDS = 5
HEALTHY_MAX_BYTES = 10 * MB
CRITICAL_BYTES = 100 * MB
SLOT_WARNING_BYTES = 100 * MB
SLOT_CRITICAL_BYTES = 1024 * MB

STANDBYS = """
SELECT application_name, client_addr::text, state, sync_state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,
       extract(epoch FROM replay_lag)::float8
FROM pg_stat_replication ORDER BY application_name
"""
SLOTS = """
SELECT slot_name, slot_type, active,
       pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint
FROM pg_replication_slots ORDER BY slot_name
"""


def standby_status(state, lag_bytes, lag_seconds):
    """HEALTHY: <= 5 s and <= 10 MB; WARNING: > 10 MB or > 5 s; CRITICAL: > 100 MB."""
    if state != "streaming":
        return "NOT STREAMING"
    lag_bytes = lag_bytes or 0
    lag_seconds = lag_seconds or 0.0
    if lag_bytes > CRITICAL_BYTES:
        return "CRITICAL"
    if lag_bytes > HEALTHY_MAX_BYTES or lag_seconds > HEALTHY_MAX_SECONDS:
        return "WARNING"
    return "HEALTHY"


def slot_status(retained_bytes):
    """Retained WAL: WARNING > 100 MB, CRITICAL > 1 GB."""
    retained_bytes = retained_bytes or 0
    if retained_bytes > SLOT_CRITICAL_BYTES:
        return "CRITICAL"
    if retained_bytes > SLOT_WARNING_BYTES:
        return "WARNING"
    return "OK"


def report(standby_rows, slot_rows):
    standbys = [
        {
            "application_name": name,
            "client_addr": addr,
            "state": state,
            "sync_state": sync_state,
            "lag_bytes": lag_bytes,
            "replay_lag_seconds": lag_seconds,
            "status": standby_status(state, lag_bytes, lag_seconds),
        }
        for name, addr, state, sync_state, lag_bytes, lag_seconds in standby_rows
    ]
    slots = [
        {
            "slot_name": name,
            "slot_type": kind,
            "active": active,
            "retained_bytes": retained,
            "status": slot_status(retained),
        }
        for name, kind, active, retained in slot_rows
    ]
    alerts = []
    if not any(s["state"] == "streaming" for s in standbys):
        alerts.append("NO REPLICA CONNECTED")
    alerts += [f"standby {s['application_name']}: {s['status']}" for s in standbys if s["status"] != "HEALTHY"]
    alerts += [f"slot {s['slot_name']}: {s['status']}" for s in slots if s["status"] != "OK"]
    alerts += [f"slot {s['slot_name']}: inactive" for s in slots if not s["active"]]
    return {"standbys": standbys, "slots": slots, "alerts": alerts}


def from_primary(primary_reads):
    """Standbys and slots with their status, read through the primary's pool (GET
    /replication and the gateway's `replication` and `cluster`)."""
    with primary_reads.cursor() as cur:
        cur.execute("SELECT pg_is_in_recovery()")
        (in_recovery,) = cur.fetchone()
        if in_recovery:
            return {
                "primary": False,
                "standbys": [],
                "slots": [],
                "alerts": ["connected to a standby, not the primary"],
            }
        cur.execute(STANDBYS)
        standbys = cur.fetchall()
        cur.execute(SLOTS)
        return {"primary": True, **report(standbys, cur.fetchall())}


def patroni_get(urls, path, cafile=None, timeout=1.0):
    """(url, JSON) of the first Patroni REST API that answers GET `path`, or (None,
    errors). HTTPS members are verified against `cafile` (or the system's CAs)."""
    errors = []
    context = ssl.create_default_context(cafile=cafile)
    for url in urls:
        try:
            with urllib.request.urlopen(f"{url.rstrip('/')}{path}", timeout=timeout, context=context) as response:
                return url, json.load(response)
        except (OSError, ValueError, urllib.error.URLError) as exc:
            errors.append(f"{url}: {exc}")
    return None, errors


def patroni_cluster(urls, cafile=None, timeout=1.0):
    """Patroni's GET /cluster, reduced to members."""
    url, data = patroni_get(urls, "/cluster", cafile, timeout)
    if url is None:
        return {"source": None, "members": [], "errors": data}
    members = [
        {k: m.get(k) for k in ("name", "role", "state", "host", "timeline", "lag")} for m in data.get("members", [])
    ]
    return {"source": url, "members": members}


def last_failover(urls, cafile=None, timeout=1.0):
    """The newest entry of Patroni's GET /history (a switchover or failover: the timeline
    it ended, when, why and who led next); None before the first one."""
    url, data = patroni_get(urls, "/history", cafile, timeout)
    if url is None:
        raise RuntimeError(f"no Patroni REST API answered: {'; '.join(data)}")
    if not data:
        return None
    timeline, lsn, reason, at, *rest = data[-1]
    return {"timeline": timeline, "lsn": lsn, "reason": reason, "at": at, "new_leader": rest[0] if rest else None}
