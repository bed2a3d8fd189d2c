"""The major upgrade drill's readings of its own evidence: the pause between
acknowledgements and the hold the playbook reports."""

from drills.major_upgrade import PROBES, MajorUpgrade, held_seconds, longest_pause


def test_the_longest_pause_counts_from_the_window_edges():
    acks = [("t", "a", 10.0), ("t", "b", 10.5), ("t", "c", 14.0), ("t", "d", 30.0)]
    # 10.5 -> 14.0 inside the window, and 14.0 -> the window's end at 20.
    assert longest_pause(acks, 9.0, 20.0) == 6.0


def test_a_window_without_any_acknowledgement_is_one_pause():
    assert longest_pause([("t", "a", 1.0)], 5.0, 8.0) == 3.0


def test_the_hold_is_read_from_the_playbook_output():
    output = (
        "TASK [major_upgrade : Writes were held for] ****\n"
        "ok: [pgn1] => \n    msg: '0.396 s; both sides: counter_shards=8, events=22090 rows'\n"
    )
    assert held_seconds(output) == 0.396
    assert held_seconds("PLAY RECAP") is None


def test_every_verdict_fails_on_its_own_evidence():
    drill = MajorUpgrade.__new__(MajorUpgrade)  # no cluster: the expected version is given
    drill.expected_version = lambda: 17
    good = {
        "playbook_rc": 0, "acknowledged_lost": 0, "duplicates_dropped_again": PROBES, "unique_added_again": 0,
        "stats_exact": True, "write_pause_s": 2.0, "failed_requests": 0, "server_version": 17,
    }  # fmt: skip
    assert drill.verdict(good) == []
    for key, bad in [
        ("playbook_rc", 1), ("acknowledged_lost", 3), ("duplicates_dropped_again", PROBES - 1),
        ("unique_added_again", 1), ("stats_exact", False), ("write_pause_s", 10.5), ("failed_requests", 2),
        ("server_version", 15),
    ]:  # fmt: skip
        assert len(drill.verdict({**good, key: bad})) == 1, key
