"""The durability drills' own rules: their bounds, their windows of acknowledgements,
and when a loss is the measured cost rather than a failure."""

from bound_terms import balanced_terms

from drills.durability import LAG_SECONDS, LaggingStandbys, StandbyLoss
from drills.faults import CrashPrimary


def test_lagging_standbys_allow_a_crash_failover_plus_the_frozen_senders():
    terms = balanced_terms()
    crash, _ = CrashPrimary().write_gap_bound(terms)
    bound, named = LaggingStandbys().write_gap_bound(terms)
    assert bound == crash + LAG_SECONDS
    assert named["replicas_lagging"] == LAG_SECONDS


def test_a_loss_is_the_measured_cost_only_without_synchronous_mode():
    fault = LaggingStandbys()
    assert fault.tolerates_loss({"synchronous_mode": False})
    assert not fault.tolerates_loss({"synchronous_mode": True})
    assert not fault.tolerates_loss({})  # unknown: a loss fails the drill
    assert fault.ack_windows({"synchronous_mode": True}) == {}  # the primary was never killed
    window = {"senders_frozen_at": 10.0, "primary_killed_at": 13.0}
    assert fault.ack_windows(window) == {"acknowledged_while_lagging": (10.0, 13.0)}


def test_standby_loss_tolerates_loss_only_without_synchronous_mode():
    fault = StandbyLoss()
    assert fault.tolerates_loss({"synchronous_mode": False})
    assert not fault.tolerates_loss({"synchronous_mode": True})
    assert not fault.tolerates_loss({})
    assert fault.ack_windows({"replicas_stopped_at": 10.0, "primary_killed_at": 25.0}) == {
        "acknowledged_alone": (10.0, 25.0)
    }
