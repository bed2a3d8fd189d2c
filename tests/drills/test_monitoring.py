"""AlertWatch's bookkeeping of Alertmanager's answers, poll by poll (the real
Alertmanager is exercised by the drills and tests/infra/test_monitoring.py)."""

from drills.monitoring import AlertWatch

ALERT = "StandbyNotStreaming"


def watched(*polls, start=100.0):
    """A watch that saw `polls` (lists of active alert names), one a second from `start`."""
    watch = AlertWatch(monitoring=None)
    for i, names in enumerate(polls):
        watch.observe(names, start + i)
    return watch


def test_an_alert_seen_then_gone_fired_and_resolved():
    watch = watched([], [ALERT], [ALERT], [])
    assert watch.fired([ALERT], since=100.0)
    assert watch.resolved([ALERT], since=100.0)
    assert watch.quiet([ALERT])
    assert watch.summary([ALERT], fault_time=100.0, heal_time=101.5) == {
        ALERT: {"fired_after_s": 1.0, "resolved_after_heal_s": 1.5}
    }


def test_an_alert_still_active_is_not_resolved():
    watch = watched([], [ALERT], [ALERT])
    assert watch.fired([ALERT], since=100.0)
    assert not watch.resolved([ALERT], since=100.0)
    assert not watch.quiet([ALERT])
    assert watch.summary([ALERT], 100.0, 101.0)[ALERT] == {"fired_after_s": 1.0, "resolved_after_heal_s": None}


def test_an_alert_never_seen_did_not_fire():
    watch = watched([], ["TargetDown"], [])
    assert not watch.fired([ALERT], since=100.0)
    assert not watch.resolved([ALERT], since=100.0)
    assert watch.summary([ALERT], 100.0, 101.0)[ALERT] == {"fired_after_s": None, "resolved_after_heal_s": None}


def test_an_alert_active_before_the_fault_is_not_the_fault_s():
    """Still active from before: neither fired nor resolved by this fault."""
    watch = watched([ALERT], [ALERT], [])
    assert not watch.fired([ALERT], since=100.5)
    assert not watch.resolved([ALERT], since=100.5)
    assert watch.summary([ALERT], 100.5, 101.0)[ALERT]["fired_after_s"] is None


def test_an_alert_that_comes_back_after_the_fault_fired_again():
    watch = watched([ALERT], [], [ALERT], [])
    assert watch.fired([ALERT], since=101.5)
    assert watch.resolved([ALERT], since=101.5)
    assert watch.summary([ALERT], 101.5, 102.0)[ALERT] == {"fired_after_s": 0.5, "resolved_after_heal_s": 1.0}


def test_no_poll_yet_is_not_quiet():
    assert not AlertWatch(monitoring=None).quiet([ALERT])
