"""The pgBackRest role takes the stanza's first full backup before any backup timer runs."""

import pathlib

import yaml

STANZA = pathlib.Path(__file__).resolve().parents[2] / "roles" / "pgbackrest" / "tasks" / "stanza.yml"


def test_first_full_backup_comes_before_the_timers_start():
    # A timer started first can fire during the first backup (the hourly incremental at
    # the top of the hour) and hold the stanza's lock: the first backup then fails.
    tasks = yaml.safe_load(STANZA.read_text())
    names = [t["name"] for t in tasks]
    first_backup = next(
        i for i, t in enumerate(tasks) if "--type=full" in t.get("ansible.builtin.command", {}).get("argv", [])
    )
    timers = [
        i
        for i, t in enumerate(tasks)
        if str(t.get("ansible.builtin.systemd_service", {}).get("name", "")).startswith("pgbackrest-backup")
    ]
    assert timers, names
    assert first_backup < min(timers), names
