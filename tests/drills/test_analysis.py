"""The drill figures computed from samples and acknowledgements."""

from drills import analysis


def sample(t, writable=(), primary=(), timeline=1):
    nodes = ("pg1", "pg2", "pg3")
    return {
        "t": t,
        "nodes": {n: {"writable": n in writable, "timeline": timeline} for n in nodes},
        "primary_api": {n: 200 if n in primary else 503 for n in nodes},
    }


def test_longest_ack_gap_includes_window_edges():
    assert analysis.longest_ack_gap([1.0, 1.5, 4.0, 4.2], start=0.5, end=5.0) == 2.5
    assert analysis.longest_ack_gap([], start=0.0, end=3.0) == 3.0
    assert analysis.longest_ack_gap([1.0, 2.0], start=0.0, end=10.0) == 8.0


def test_split_brain_counts_two_writable_nodes_or_two_primaries():
    samples = [
        sample(0, writable=["pg1"], primary=["pg1"]),
        sample(1, writable=["pg1", "pg2"], primary=["pg2"]),
        sample(2, writable=["pg2"], primary=["pg1", "pg2"]),
        sample(3, writable=[], primary=[]),
    ]
    bad = analysis.split_brain_samples(samples)
    assert [b["t"] for b in bad] == [1, 2]


def test_a_second_read_write_node_that_cannot_acknowledge_is_fenced_not_split_brain():
    """An old primary thawing after its synchronous standby was promoted is read-write
    until Patroni demotes it, but every commit there waits for a standby that is gone."""
    thawed = sample(1, writable=["pg1", "pg3"], primary=["pg3"])
    thawed["nodes"]["pg1"]["fenced"] = True
    unfenced = sample(2, writable=["pg1", "pg3"], primary=["pg3"])
    assert [b["t"] for b in analysis.split_brain_samples([thawed, unfenced])] == [2]
    assert analysis.fenced_primary_samples([thawed, unfenced]) == [{"t": 1, "fenced": ["pg1"]}]
    against_key = dict(thawed, dcs_leader_key="pg3", read_at={"dcs": 0.0, "postgres@pg1": 0.1})
    assert analysis.split_brain_samples([against_key]) == []


def test_leader_changes_and_time_to_new_leader():
    samples = [sample(0, primary=["pg1"]), sample(1, primary=[]), sample(2, primary=[]), sample(3.5, primary=["pg2"])]
    assert analysis.leader_changes(samples) == [(0, "pg1"), (1, None), (3.5, "pg2")]
    seconds, leader = analysis.time_to_new_leader(samples, fault_time=0.5, old_leader="pg1")
    assert (seconds, leader) == (3.0, "pg2")


def test_leader_moves_count_handovers_after_the_fault_only():
    samples = [
        sample(0, primary=["pg1"]),
        sample(1, primary=["pg2"]),  # before the fault: not counted
        sample(2, primary=[]),
        sample(3, primary=["pg2"]),  # no leader for a moment, then the same one: no move
        sample(4, primary=["pg3"]),
        sample(5, primary=["pg2"]),
    ]
    assert analysis.leader_moves(samples, since=1.5, leader="pg2") == 2
    assert analysis.leader_moves(samples, since=4.5, leader="pg3") == 1


def test_old_leader_back_on_its_own_timeline_is_no_new_leader():
    # A missed probe (or a restart in place) of the old leader is not an election.
    samples = [sample(0, primary=["pg1"]), sample(1, primary=[]), sample(2.5, primary=["pg1"])]
    assert analysis.time_to_new_leader(samples, fault_time=0.5, old_leader="pg1") == (None, None)


def test_old_leader_re_elected_on_a_later_timeline_counts():
    samples = [sample(0, primary=["pg1"]), sample(1, primary=[]), sample(2.5, primary=["pg1"], timeline=2)]
    assert analysis.time_to_new_leader(samples, fault_time=0.5, old_leader="pg1") == (2.0, "pg1")


def test_acks_per_bucket():
    assert analysis.acks_per_bucket([0.05, 0.06, 0.25], start=0.0, end=0.3) == [2, 0, 1, 0]


def test_sampling_gaps_and_stale_samples_are_reported():
    samples = [sample(0), sample(0.2), sample(3.0)]
    samples[1]["unknown"] = ["postgres@pg1"]
    assert analysis.longest_sampling_gap(samples) == 2.8
    assert analysis.stale_samples(samples) == 1


def test_unknown_time_is_counted_per_probe_inside_the_window():
    samples = [sample(t / 10) for t in range(0, 101)]  # 0.0 .. 10.0 s every 100 ms
    for s in samples[20:40]:  # 2.0 s unknown
        s["unknown"] = ["postgres@pg1"]
    for s in samples[95:]:  # after the window: not counted
        s["unknown"] = ["dcs"]
    shares = analysis.unknown_shares(samples, start=0.0, end=9.0)
    assert shares == {"postgres@pg1": round(2.0 / 9.0, 3)}


def test_split_brain_is_judged_at_every_place_a_client_can_write():
    calm = sample(0, writable=["pg1"], primary=["pg1"])
    calm.update(haproxy_primary={"app1": ["pg1"], "app2": ["pg1"]}, leader_vip={"pg1": True, "pg2": False})
    calm.update(dcs_leader_key="pg1", read_at={"dcs": 0.0, "postgres@pg1": 0.1})
    assert analysis.split_brain_samples([calm]) == []
    two_up = dict(calm, t=1, haproxy_primary={"app1": ["pg1"], "app2": ["pg1", "pg2"]})
    two_vips = dict(calm, t=2, leader_vip={"pg1": True, "pg2": True})
    against_key = dict(calm, t=3, dcs_leader_key="pg2")
    older_than_key = dict(against_key, t=4, read_at={"dcs": 0.2, "postgres@pg1": 0.1})
    bad = analysis.split_brain_samples([two_up, two_vips, against_key, older_than_key])
    assert [b["t"] for b in bad] == [1, 2, 3]
    assert bad[0]["haproxy_primary"] == {"app2": ["pg1", "pg2"]}
    assert bad[2]["writable_against_dcs_key"] == ["pg1"]


def test_load_around_the_fault():
    acks = [0.5, 0.6, 0.95, 1.0, 5.0, 5.5, 6.0]
    assert analysis.acks_between(acks, 0.0, 1.0) == 3
    assert analysis.ack_rate(acks, 5.0, 7.0) == 1.5
    assert analysis.ack_rate(acks, 5.0, 5.5) is None


def vip_sample(t, **holds):
    return {"t": t, "vip": holds}


def test_vip_overlaps_are_stretches_of_samples_with_two_holders():
    samples = [
        vip_sample(0.0, app1=True, app2=False),
        vip_sample(0.2, app1=True, app2=True),
        vip_sample(0.4, app1=True, app2=True),
        vip_sample(0.6, app1=False, app2=True),
        vip_sample(0.8, app1=True, app2=True),
        vip_sample(1.0, app1=None, app2=True),  # unknown is not holding
    ]
    assert analysis.vip_overlaps(samples) == [(0.2, 0.4), (0.8, 0.8)]
    assert analysis.vip_overlaps([vip_sample(0, app1=True, app2=True), vip_sample(3, app1=True, app2=True)]) == [(0, 3)]


def test_the_vip_moved_when_another_balancer_alone_holds_it():
    samples = [
        vip_sample(0.0, app1=True, app2=False),
        vip_sample(1.0, app1=False, app2=False),
        vip_sample(2.0, app1=True, app2=True),  # two holders is no move yet
        vip_sample(3.0, app1=False, app2=True),
    ]
    assert analysis.vip_moved_after(samples, fault_time=0.5, old_holder="app1") == 2.5
    assert analysis.vip_moved_after(samples[:3], fault_time=0.5, old_holder="app1") is None


def test_a_probe_that_never_reads_the_healthy_cluster_is_named():
    """A HAProxy probe reading the wrong proxy sees no server UP, ever: it would never
    see two either. Caught before the fault."""
    healthy = sample(0, writable=["pg1"], primary=["pg1"])
    healthy.update(
        haproxy_primary={"app1": ["pg1"], "app2": []}, dcs_leader_key="pg1", vip={"app1": True, "app2": False}
    )
    assert analysis.probes_never_healthy([healthy], fault_time=1, leader="pg1") == ["haproxy@app2"]
    blind = dict(healthy, dcs_leader_key=None, vip={"app1": None, "app2": None})
    assert analysis.probes_never_healthy([blind], fault_time=1, leader="pg1") == ["dcs", "haproxy@app2", "vip"]
    unanswered = dict(healthy, primary_api=dict.fromkeys(healthy["primary_api"]))
    assert "patroni@pg1" in analysis.probes_never_healthy([unanswered], fault_time=1, leader="pg1")


def keyed(t, key, writable=(), haproxy=None):
    """A sample with the DCS leader key ("": none, None: unknown) and each balancer's
    primary backend."""
    s = sample(t, writable=writable, primary=writable)
    s["dcs_leader_key"] = key
    s["haproxy_primary"] = haproxy or {}
    return s


def test_failover_timeline_places_each_phase_from_the_samples_and_the_acks():
    one, two = {"lb1": ["pg1"], "lb2": ["pg1"]}, {"lb1": ["pg2"], "lb2": ["pg2"]}
    samples = [
        keyed(0.0, "pg1", ["pg1"], one),
        keyed(1.0, "pg1", [], one),  # the crash: the key outlives it
        keyed(2.0, None, [], {"lb1": [], "lb2": []}),  # the DCS did not answer: unknown, not released
        keyed(21.0, "", [], {"lb1": [], "lb2": []}),  # expired
        keyed(21.2, "pg2", [], {"lb1": [], "lb2": []}),
        keyed(21.6, "pg2", ["pg2"], {"lb1": ["pg2"], "lb2": []}),
        keyed(22.4, "pg2", ["pg2"], two),
    ]
    acks = [0.2, 0.6, 0.9, 22.5, 22.6]
    timeline = analysis.failover_timeline(samples, acks, fault_time=1.0, old_leader="pg1")
    assert timeline == {
        "last_ack_before_s": -0.1,
        "leader_key_released_s": 20.0,
        "leader_key_taken_s": 20.2,
        "successor": "pg2",
        "successor_writable_s": 20.6,
        "haproxy_switched_s": {"lb1": 20.6, "lb2": 21.4},
        "every_balancer_switched_s": 21.4,
        "first_ack_after_s": 21.5,
    }


def test_failover_timeline_without_a_successor_names_no_phase_after_the_key():
    # PostgreSQL restarted in place: the key never left the old leader.
    samples = [keyed(0.0, "pg1", ["pg1"]), keyed(1.0, "pg1", []), keyed(4.0, "pg1", ["pg1"])]
    timeline = analysis.failover_timeline(samples, [0.5, 4.5], fault_time=1.0, old_leader="pg1")
    assert timeline["leader_key_released_s"] is None
    assert timeline["successor"] is None
    assert timeline["first_ack_after_s"] is None
    assert timeline["last_ack_before_s"] == -0.5  # without a successor: the last before the fault
