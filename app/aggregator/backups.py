"""Backup and WAL archiving health: the newest pgBackRest backup of each type, its age,
and the primary's archiver, with the project's thresholds."""

HOUR = 3600
BACKUP_WARNING_SECONDS = 26 * HOUR  # a daily backup missed its slot
ARCHIVE_CRITICAL_SECONDS = 5 * 60  # a WAL segment waiting this long is not archived

# The archiver's counters, and the oldest finished segment still waiting for
# archive_command (its .ready file): the archive is that far behind.
ARCHIVER = """
SELECT current_setting('archive_mode'), archived_count, last_archived_wal,
       extract(epoch FROM last_archived_time)::float8, failed_count, last_failed_wal,
       extract(epoch FROM last_failed_time)::float8,
       (SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'),
       (SELECT extract(epoch FROM min(modification))::float8
          FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'),
       extract(epoch FROM now())::float8
FROM pg_stat_archiver
"""
# pgBackRest's `info --output=json` for the stanza, read by a superuser-owned function
# on the primary (the pgbackrest role creates it): the app never reaches the repository.
BACKUP_INFO = "SELECT backup_info()"


def archiving_status(row):
    """OFF without archive_mode; CRITICAL when the last attempt failed or a segment has
    waited more than 5 minutes; OK otherwise."""
    mode, archived, last_wal, last_time, failed, failed_wal, failed_time, waiting, oldest, now = row
    if mode == "off":
        status, reason = "OFF", "archive_mode is off"
    elif failed_time and (not last_time or failed_time > last_time):
        status, reason = "CRITICAL", f"archiving {failed_wal} failed; no segment archived since"
    elif oldest and now - oldest > ARCHIVE_CRITICAL_SECONDS:
        status, reason = "CRITICAL", f"{waiting} segments waiting, the oldest for {now - oldest:.0f} s"
    else:
        status, reason = "OK", None
    return {
        "status": status,
        "reason": reason,
        "archived_count": archived,
        "last_archived_wal": last_wal,
        "last_archived_age_seconds": round(now - last_time, 1) if last_time else None,
        "failed_count": failed,
        "last_failed_wal": failed_wal,
        "segments_waiting": waiting,
        "oldest_waiting_seconds": round(now - oldest, 1) if oldest else None,
    }


def backups_status(info, now):
    """The newest successful backup per type (full, diff, incr) with its age; WARNING
    when there is none or the newest of any type is older than 26 h."""
    stanza = info[0] if info else {}
    done = [b for b in stanza.get("backup", []) if not b.get("error")]
    newest = {}
    for backup in sorted(done, key=lambda b: b["timestamp"]["stop"]):
        newest[backup["type"]] = {
            "label": backup["label"],
            "stopped_at": backup["timestamp"]["stop"],
            "age_seconds": round(now - backup["timestamp"]["stop"]),
            "duration_seconds": backup["timestamp"]["stop"] - backup["timestamp"]["start"],
            "size_bytes": backup["info"]["size"],
            "stored_bytes": backup["info"]["repository"]["delta"],
        }
    repository = stanza.get("status", {})
    if repository.get("code", 0) not in (0,) and not done:
        status, reason = "WARNING", f"repository: {repository.get('message')}"
    elif not done:
        status, reason = "WARNING", "no backup"
    elif min(b["age_seconds"] for b in newest.values()) > BACKUP_WARNING_SECONDS:
        status, reason = "WARNING", "the newest backup is older than 26 h"
    else:
        status, reason = "OK", None
    return {"status": status, "reason": reason, "stanza": stanza.get("name"), "newest": newest}


def alerts(archiving, backups):
    found = []
    if archiving["status"] != "OK":
        found.append(f"WAL archiving {archiving['status']}: {archiving['reason']}")
    if backups and backups["status"] != "OK":
        found.append(f"backups {backups['status']}: {backups['reason']}")
    return found


def current(primary_reads, backup_info):
    """Archiving and, when `backup_info` (the deployment has a repository), the newest
    backups, read through the primary's pool (GET /backups and the gateway's `backups`)."""
    with primary_reads.cursor() as cur:
        cur.execute(ARCHIVER)
        row = cur.fetchone()
        archiving = archiving_status(row)
        repository = None
        if backup_info:
            cur.execute(BACKUP_INFO)
            repository = backups_status(cur.fetchone()[0], now=row[-1])
    return {"archiving": archiving, "backups": repository, "alerts": alerts(archiving, repository)}
