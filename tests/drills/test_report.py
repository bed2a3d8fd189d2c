"""The drill report's summary cells."""

from drills import report


def test_the_phases_cell_lists_the_failover_phases_in_order():
    timeline = {
        "leader_key_released_s": 20.0,
        "leader_key_taken_s": 20.2,
        "successor": "pg2",
        "successor_writable_s": 20.6,
        "every_balancer_switched_s": 21.4,
        "first_ack_after_s": 21.5,
    }
    assert report.phases(timeline) == "20.0 / 20.2 / 20.6 / 21.4 / 21.5"
    assert report.phases({**timeline, "successor": None}) == "-"
    assert "| 20.0 / 20.2 / 20.6 / 21.4 / 21.5 |" in report.row({"failover_timeline": timeline})
