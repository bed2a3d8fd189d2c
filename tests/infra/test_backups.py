"""pgBackRest on backup1: the stanza checks, a full backup exists, the repository is
encrypted, replicas are rebuilt from it, GET /backups reports it, and restore.yml refuses
what it must refuse without touching the cluster."""

import json

import pytest
from lab import (
    PG_NODES,
    call,
    cluster,
    data_directory,
    leader_name,
    node,
    run_playbook,
    wait_for,
)

STANZA = "pgha"
REPO_PATH = "/var/lib/pgbackrest"


def pgbackrest(*args):
    return node("backup1").run(f"runuser -u pgbackrest -- pgbackrest --stanza={STANZA} {' '.join(args)}")


def info():
    run = pgbackrest("--output=json", "info")
    assert run.rc == 0, f"pgbackrest info failed: {run.stderr}"
    return json.loads(run.stdout)[0]


def test_stanza_check_archives_a_segment_through_tls():
    """`check` switches the primary's WAL and waits for it in the repository, asked from
    the repository host and from the primary itself."""
    run = pgbackrest("check")
    assert run.rc == 0, f"expected pgbackrest check to pass on backup1, found rc {run.rc}: {run.stderr}"
    leader = leader_name()
    run = node(leader).run(f"runuser -u postgres -- pgbackrest --stanza={STANZA} check")
    assert run.rc == 0, f"expected pgbackrest check to pass on the primary {leader}, found rc {run.rc}: {run.stderr}"


def test_a_full_backup_exists_and_the_repository_is_encrypted():
    stanza = info()
    assert stanza["status"]["code"] == 0, f"expected a healthy stanza, found {stanza['status']}"
    assert "full" in {b["type"] for b in stanza["backup"]}, f"expected a full backup, found {stanza['backup']}"
    assert stanza["cipher"] == "aes-256-cbc"
    # Encrypted files carry OpenSSL's salted header, not PostgreSQL's bytes.
    path = node("backup1").check_output(f"find {REPO_PATH}/archive/{STANZA} -name '0000*' -type f | head -1")
    assert path, "expected archived WAL in the repository"
    head = node("backup1").check_output(f"head -c 8 {path}")
    assert head == "Salted__", f"expected an encrypted segment, {path} starts with {head!r}"


def test_the_timers_schedule_every_backup_type():
    timers = node("backup1").check_output("systemctl list-timers --all --no-legend 'pgbackrest-backup-*'")
    for kind in ("full", "diff", "incr"):
        assert f"pgbackrest-backup-{kind}.timer" in timers, f"expected a {kind} timer, found:\n{timers}"


def test_tls_servers_serve_only_the_authorised_certificates():
    """pg2 may use the repository on backup1, but pg1's TLS server serves only backup1's
    certificate: pg2's (signed by the same CA) is denied."""
    command = "runuser -u postgres -- pgbackrest --stanza=pgha --output=json --repo1-host={} info"
    allowed = json.loads(node("pg2").check_output(command.format("backup1")))[0]
    assert allowed["status"]["code"] == 0, f"expected pg2 to read the repository through backup1, found {allowed}"
    denied = json.loads(node("pg2").check_output(command.format("pg1")))[0]
    assert denied["status"]["code"] != 0 and "access denied" in json.dumps(denied), denied


def test_on_demand_backup_playbook_takes_an_incremental_backup():
    before = len(info()["backup"])
    run = run_playbook("playbooks/backup.yml", "-e", "backup_type=incr")
    assert run.returncode == 0, run.stdout[-3000:]
    backups = info()["backup"]
    assert len(backups) == before + 1 and backups[-1]["type"] == "incr"


def test_a_bad_backup_type_is_refused():
    run = run_playbook("playbooks/backup.yml", "-e", "backup_type=weekly")
    assert run.returncode != 0
    assert "backup_type must be full, diff or incr; found weekly" in run.stdout


def test_a_reinitialised_replica_is_restored_from_the_repository():
    replica = next(m["Member"] for m in cluster() if m["Role"] != "Leader")
    since = node(replica).check_output("date +%s")
    node(replica).check_output(f"patronictl reinit pgha {replica} --force --wait")

    def streams():
        return any(m["Member"] == replica and m["State"] == "streaming" for m in cluster())

    assert wait_for(streams, 120), f"expected {replica} streaming again, found {cluster()}"
    journal = node(replica).check_output(f"journalctl -u patroni --since @{since} --no-pager")
    assert "replica has been created using pgbackrest" in journal, journal[-3000:]


def test_backups_resource_reports_the_repository_and_archiving():
    status, body = call("GET", "/backups")
    assert status == 200, body
    assert body["archiving"]["status"] == "OK", body["archiving"]
    assert body["backups"]["status"] == "OK", body["backups"]
    assert body["backups"]["newest"]["full"]["age_seconds"] < 24 * 3600
    assert body["alerts"] == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-e", "restore_target=latest"], "Run it with -e restore_confirm=pgha to confirm"),
        (["-e", "restore_confirm=pgha"], "Give either -e"),
        (
            ["-e", "restore_confirm=pgha", "-e", "restore_target_time='2001-01-01 00:00:00+00'"],
            "as PostgreSQL prints it ('2026-12-05 10:17:11.177333+00') or ISO 8601 ('2026-12-05T10:17:11Z', "
            "'+01:00'), and lie inside the recoverable window, from",
        ),
        (
            ["-e", "restore_confirm=pgha", "-e", "restore_target_time=yesterday"],
            "restore_target_time 'yesterday' must be a time with its offset",
        ),
    ],
)
def test_restore_refuses_and_changes_nothing(extra, message):
    assert_refused_unchanged(extra, message)


def test_a_restore_stops_when_the_newest_wal_cannot_be_archived():
    """`pgbackrest check` cannot reach the database nodes: the restore would lose what
    was written since the last archived segment, so it stops unless that is accepted."""
    for name in PG_NODES:
        node(name).check_output("systemctl stop pgbackrest-server")
    try:
        assert_refused_unchanged(
            ["-e", "restore_confirm=pgha", "-e", "restore_target=latest", "-e", "pgbackrest_check_timeout=15"],
            "or accept that loss with -e restore_accept_unarchived_wal=true. Nothing was changed.",
        )
    finally:
        for name in PG_NODES:
            node(name).check_output("systemctl start pgbackrest-server")


def assert_refused_unchanged(extra, message):
    """restore.yml with `extra` fails with `message`; the leader and every data
    directory stay where they were."""
    leader = leader_name()
    directories = {name: data_directory(name) for name in PG_NODES}
    run = run_playbook("playbooks/restore.yml", *extra)
    assert run.returncode != 0
    assert message in " ".join(run.stdout.split()), run.stdout[-3000:]
    assert leader_name() == leader
    for name, directory in directories.items():
        parent, base = directory.rsplit("/", 1)
        # find exits non-zero when the parent is missing: no match is an empty answer, not an error.
        moved = node(name).check_output(f"find {parent} -maxdepth 1 -name '{base}.before-restore-*'")
        assert moved == "", f"expected no data directory moved aside on {name}, found {moved}"
