"""restore.yml's target time: every form PostgreSQL prints or ISO 8601 allows, garbage refused."""

import datetime
import importlib.util
import pathlib

import pytest

PATH = pathlib.Path(__file__).resolve().parents[2] / "roles" / "pgbackrest" / "filter_plugins" / "restore_target.py"
spec = importlib.util.spec_from_file_location("restore_target", PATH)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)

UTC = datetime.UTC
AT = datetime.datetime(2026, 12, 5, 10, 17, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-05 10:17:11.177333+00", AT.replace(microsecond=177333)),  # what SELECT now() prints
        ("2026-12-05 10:17:11+00", AT),
        ("2026-12-05T10:17:11Z", AT),
        ("2026-12-05T10:17:11.5Z", AT.replace(microsecond=500000)),
        ("2026-12-05 11:17:11+01:00", AT),
        ("2026-12-05 11:17:11+0100", AT),
        ("2026-12-05 05:17:11-05", AT),
        ("  2026-12-05 10:17:11 +00  ", AT),
    ],
)
def test_postgres_and_iso_forms_are_accepted(text, expected):
    assert module.parse_target_time(text) == expected
    assert module.restore_target_epoch(text) == expected.timestamp()
    # One form for pgBackRest and PostgreSQL, in UTC.
    assert module.restore_target_utc(text) == expected.strftime("%Y-%m-%d %H:%M:%S.%f+00")


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "2026-12-05 10:17:11",  # no offset: the server's zone would decide
        "2026-12-05",
        "2026-02-30 10:00:00+00",
        "2026-12-05 25:00:00+00",
        "2026-12-05 10:17:11.1234567+00",
        "2026-12-05 10:17:11+00; DROP TABLE events",
        "",
    ],
)
def test_garbage_is_refused(text):
    assert module.parse_target_time(text) is None
    assert module.restore_target_epoch(text) == 0
    assert module.restore_target_utc(text) == ""
