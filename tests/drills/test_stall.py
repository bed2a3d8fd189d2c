"""stall-short's rule: below retry_timeout, and its bound."""

from bound_terms import balanced_terms

from drills.stall import StallShort, short_stall


def test_a_short_stall_stays_below_retry_timeout():
    terms = balanced_terms()
    assert short_stall(5) == 4.0
    assert short_stall(10) == 9.0
    assert short_stall(1) == 1.0  # at least a second
    bound, named = StallShort().write_gap_bound(terms)
    assert named["stall"] == 4.0 and bound == 4.0 + terms.haproxy_up + named["margin"]
