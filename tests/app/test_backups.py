"""Backup and archiving health: the issue's thresholds on both sides, and the endpoint."""

import pytest

from aggregator.backups import HOUR, alerts, archiving_status, backups_status

NOW = 1_800_000_000.0


def archiver(mode="on", last=NOW - 30, failed=None, waiting=0, oldest=None):
    """A pg_stat_archiver row as ARCHIVER reads it."""
    return (mode, 12, "00000001000000000000000C", last, 1 if failed else 0, "000000010000000000000005", failed,
            waiting, oldest, NOW)  # fmt: skip


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (archiver(), "OK"),
        (archiver(mode="off"), "OFF"),
        (archiver(failed=NOW - 10), "CRITICAL"),  # the last attempt failed
        (archiver(failed=NOW - 60, last=NOW - 10), "OK"),  # a failure since recovered
        (archiver(last=None, failed=NOW - 5), "CRITICAL"),  # never archived anything
        (archiver(waiting=3, oldest=NOW - 300), "OK"),  # exactly 5 min behind
        (archiver(waiting=3, oldest=NOW - 301), "CRITICAL"),
        (archiver(last=NOW - 86400, waiting=0), "OK"),  # an idle cluster has nothing to archive
    ],
)
def test_archiving_status(row, expected):
    assert archiving_status(row)["status"] == expected


def backup(kind, stop, error=False):
    return {
        "type": kind,
        "label": f"{kind}-{stop}",
        "error": error,
        "timestamp": {"start": stop - 20, "stop": stop},
        "info": {"size": 100, "repository": {"delta": 10}},
    }


def info(*backups, code=0):
    return [{"name": "pgha", "status": {"code": code, "message": "ok"}, "backup": list(backups)}]


@pytest.mark.parametrize(
    ("repository", "expected"),
    [
        (info(backup("full", NOW - 26 * HOUR)), "OK"),
        (info(backup("full", NOW - 26 * HOUR - 1)), "WARNING"),
        (info(backup("full", NOW - 30 * HOUR), backup("incr", NOW - HOUR)), "OK"),  # any type counts
        (info(backup("full", NOW - HOUR, error=True)), "WARNING"),  # a failed backup is no backup
        (info(), "WARNING"),
        (info(code=1), "WARNING"),  # missing stanza
        ([], "WARNING"),
    ],
)
def test_backups_status(repository, expected):
    assert backups_status(repository, NOW)["status"] == expected


def test_the_newest_backup_of_each_type_is_reported_with_its_age():
    report = backups_status(
        info(backup("full", NOW - 50 * HOUR), backup("full", NOW - 3 * HOUR), backup("diff", NOW - HOUR)), NOW
    )
    assert report["newest"]["full"]["age_seconds"] == 3 * HOUR
    assert report["newest"]["diff"]["label"] == f"diff-{NOW - HOUR}"
    assert "incr" not in report["newest"]


def test_alerts_name_what_is_wrong():
    found = alerts(archiving_status(archiver(failed=NOW - 1)), backups_status(info(), NOW))
    assert found == [
        "WAL archiving CRITICAL: archiving 000000010000000000000005 failed; no segment archived since",
        "backups WARNING: no backup",
    ]


def test_endpoint_reads_the_real_archiver(client):
    """The test server runs without archive_mode; backups are not configured."""
    body = client.get("/backups").json
    assert body["archiving"]["status"] == "OFF"
    assert body["backups"] is None
    assert body["alerts"] == ["WAL archiving OFF: archive_mode is off"]


def test_endpoint_needs_the_read_token(make_app):
    response = make_app().test_client().get("/backups", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.json["error"]
