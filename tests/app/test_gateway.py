"""The gateway's schema: how Patroni's members and the primary's pg_stat_replication
become one member list with the reference design's status, and 64-bit counters."""

from aggregator.gateway import _members, schema
from aggregator.replication import MB

PATRONI = {
    "members": [
        {"name": "pg1", "role": "leader", "state": "running", "host": "10.0.0.1", "timeline": 4},
        {"name": "pg2", "role": "sync_standby", "state": "streaming", "host": "10.0.0.2", "timeline": 4, "lag": 0},
        {"name": "pg3", "role": "replica", "state": "streaming", "host": "10.0.0.3", "timeline": 4, "lag": 20 * MB},
    ]
}


def standby(name, lag_bytes, seconds, status):
    return {"application_name": name, "lag_bytes": lag_bytes, "replay_lag_seconds": seconds, "status": status}


def statuses(members):
    return {m.name: (m.status, m.lag_bytes, m.replay_lag_seconds) for m in members}


def test_standbys_take_lag_and_status_from_the_primary():
    members = _members(PATRONI, [standby("pg2", 0, 0.1, "HEALTHY"), standby("pg3", 150 * MB, 2.0, "CRITICAL")])
    assert statuses(members) == {
        "pg1": ("LEADER", None, None),
        "pg2": ("HEALTHY", 0, 0.1),
        "pg3": ("CRITICAL", 150 * MB, 2.0),
    }


def test_a_member_the_primary_does_not_stream_to_is_not_streaming():
    members = _members(PATRONI, [standby("pg2", 0, 0.0, "HEALTHY")])
    assert statuses(members)["pg3"] == ("NOT STREAMING", 20 * MB, None)


def test_without_the_primary_patroni_s_lag_gives_the_status():
    """During a failover the primary may not answer: Patroni's lag in bytes decides."""
    stopped = {**PATRONI["members"][1], "state": "stopped"}
    members = _members({"members": [PATRONI["members"][0], stopped, PATRONI["members"][2]]}, None)
    assert statuses(members) == {
        "pg1": ("LEADER", None, None),
        "pg2": ("NOT STREAMING", 0, None),
        "pg3": ("WARNING", 20 * MB, None),
    }


def test_counters_beyond_32_bits_are_served():
    sdl = schema.as_str()
    assert "scalar Long" in sdl
    assert "received: Long!" in sdl


def test_a_member_patroni_no_longer_lists_is_shown_not_streaming():
    """A replica whose Patroni was stopped leaves Patroni's list; Prometheus still knows it."""
    members = _members(PATRONI, [standby("pg2", 0, 0.0, "HEALTHY")], known=["pg1", "pg2", "pg3", "pg4"])
    pg4 = members[-1]
    assert (pg4.name, pg4.role, pg4.state, pg4.status) == ("pg4", "unknown", "not in the cluster", "NOT STREAMING")
    assert len(members) == 4
