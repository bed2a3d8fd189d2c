"""The restore drills' verdicts, from their results alone (as the failover drills')."""

from drills.restore import loss_verdict, verdict

WHOLE = {"stats_invariant": True, "unique_equals_rows": True, "nodes_identical": True}


def operator_error(**changes):
    result = {
        "restore_rc": 0,
        "settled": True,
        "acknowledged_before_t": 2000,
        "acknowledged_after_t": 1400,
        "deleted_rows": 3600,
        "acknowledged_lost": 0,
        "after_t_survived": 0,
        "rows_written_after_t": 0,
        "acknowledged_after_restore": 2000,
        "lost_after_restore": 0,
        "split_brain_samples": 0,
        "consistency": WHOLE,
    }
    return result | changes


def test_an_operator_error_undone_passes():
    assert verdict(operator_error()) == []


def test_a_delete_that_removed_less_than_was_acknowledged_proves_nothing():
    assert verdict(operator_error(deleted_rows=0)) == [
        "the DELETE removed 0 rows, fewer than the 3400 events acknowledged: no mistake to undo"
    ]


def test_a_restore_past_t_or_with_a_loss_fails():
    assert verdict(operator_error(acknowledged_lost=3)) == ["3 events acknowledged before T are missing"]
    assert verdict(operator_error(rows_written_after_t=12)) == [
        "the restore went past T: 0 events acknowledged after T, 12 rows received after T"
    ]


def cluster_loss(**changes):
    result = {
        "restore_rc": 0,
        "settled": True,
        "limit_s": 35,
        "acknowledged_before_limit": 4000,
        "lost_beyond_limit": 0,
        "acknowledged_after_restore": 2000,
        "lost_after_restore": 0,
        "split_brain_samples": 0,
        "consistency": WHOLE,
    }
    return result | changes


def test_a_cluster_rebuilt_whole_passes():
    assert loss_verdict(cluster_loss()) == []


def test_cluster_loss_fails_on_nodes_that_differ_or_two_writers():
    differ = WHOLE | {"nodes_identical": False}
    assert loss_verdict(cluster_loss(consistency=differ)) == [f"consistency: {differ}"]
    assert loss_verdict(cluster_loss(split_brain_samples=2)) == ["2 split-brain samples"]
    assert loss_verdict(cluster_loss(settled=False, consistency=None)) == [
        "cluster did not settle after the rebuild",
        "consistency: None",
    ]


def test_cluster_loss_fails_on_an_old_acknowledgement_lost_or_nothing_to_check():
    assert loss_verdict(cluster_loss(lost_beyond_limit=1)) == [
        "1 events acknowledged more than 35 s before the loss lost"
    ]
    assert loss_verdict(cluster_loss(acknowledged_before_limit=0)) == [
        "no event was acknowledged more than 35 s before the loss: nothing was checked"
    ]
