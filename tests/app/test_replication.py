"""Replication health: thresholds of the reference design, and the endpoint."""

import pytest
from aggregator.replication import MB, report, slot_status, standby_status


@pytest.mark.parametrize(
    ("state", "lag_bytes", "lag_seconds", "expected"),
    [
        ("streaming", 0, 0.0, "HEALTHY"),
        ("streaming", 10 * MB, 5.0, "HEALTHY"),
        ("streaming", 10 * MB + 1, 0.0, "WARNING"),
        ("streaming", 0, 5.1, "WARNING"),
        ("streaming", 100 * MB, 0.0, "WARNING"),
        ("streaming", 100 * MB + 1, 0.0, "CRITICAL"),
        ("streaming", None, None, "HEALTHY"),
        ("catchup", 0, 0.0, "NOT STREAMING"),
        ("startup", 500 * MB, 60.0, "NOT STREAMING"),
    ],
)
def test_standby_status(state, lag_bytes, lag_seconds, expected):
    assert standby_status(state, lag_bytes, lag_seconds) == expected


@pytest.mark.parametrize(
    ("retained", "expected"),
    [(0, "OK"), (100 * MB, "OK"), (100 * MB + 1, "WARNING"), (1024 * MB, "WARNING"), (1024 * MB + 1, "CRITICAL")],
)
def test_slot_status(retained, expected):
    assert slot_status(retained) == expected


def test_report_alerts_when_no_replica_is_connected():
    assert report([], [])["alerts"] == ["NO REPLICA CONNECTED"]


def test_report_lists_unhealthy_standbys_and_inactive_slots():
    result = report(
        [("pg2", "10.0.0.2", "streaming", "sync", 0, 0.1), ("pg3", "10.0.0.3", "streaming", "async", 200 * MB, 1.0)],
        [("pg2", "physical", True, 0), ("pg3", "physical", False, 2048 * MB)],
    )
    assert [s["status"] for s in result["standbys"]] == ["HEALTHY", "CRITICAL"]
    assert result["alerts"] == ["standby pg3: CRITICAL", "slot pg3: CRITICAL", "slot pg3: inactive"]


def test_endpoint_on_a_standalone_primary(make_app):
    client = make_app(PATRONI_URLS="http://127.0.0.1:9/").test_client()
    body = client.get("/replication").json
    assert body["primary"] is True
    assert body["standbys"] == []
    assert "NO REPLICA CONNECTED" in body["alerts"]
    assert body["patroni"]["members"] == [] and body["patroni"]["errors"]
