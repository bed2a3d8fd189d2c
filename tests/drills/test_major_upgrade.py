"""The major upgrade drill's readings of its own evidence: the pause between
acknowledgements and the hold the playbook reports."""

from drills.major_upgrade import held_seconds, longest_pause


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
