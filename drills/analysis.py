"""Turn samples and acknowledgements into the drill's figures (pure functions, tested)."""

from publisher.load import longest_gap


def longest_ack_gap(ack_times, start, end):
    """Longest time without an acknowledgement in [start, end] (write downtime): the
    publisher's own figure, over the acknowledgements inside the window."""
    return longest_gap([t for t in ack_times if start <= t <= end], start, end)


def acknowledging(reading):
    """A node that takes writes and can acknowledge a commit: read-write and not fenced
    (a commit there would wait for a synchronous standby none of which is connected)."""
    return bool(reading.get("writable")) and not reading.get("fenced")


def split_brain_samples(samples):
    """Samples in which any place a client's write can go named two primaries: two
    nodes that can acknowledge writes, two answering 200 on /primary, a balancer with two
    servers UP in its primary backend, the leader VIP on two nodes, or a node that can
    acknowledge writes while the DCS leader key named another member (read no later than
    that node)."""
    bad = []
    for s in samples:
        writable = [n for n, v in s["nodes"].items() if acknowledging(v)]
        primaries = [n for n, status in s["primary_api"].items() if status == 200]
        haproxy = {b: up for b, up in (s.get("haproxy_primary") or {}).items() if up and len(set(up)) > 1}
        leader_vip = [n for n, holds in (s.get("leader_vip") or {}).items() if holds]
        key = s.get("dcs_leader_key")
        read_at = s.get("read_at", {})
        against_key = [
            n for n in writable
            if key and n != key and read_at.get(f"postgres@{n}", 0) >= read_at.get("dcs", float("inf"))
        ]  # fmt: skip
        if len(writable) > 1 or len(primaries) > 1 or haproxy or len(leader_vip) > 1 or against_key:
            bad.append(
                {
                    "t": s["t"],
                    "writable": writable,
                    "primary_api": primaries,
                    "haproxy_primary": haproxy,
                    "leader_vip": leader_vip,
                    "writable_against_dcs_key": against_key,
                }
            )
    return bad


def fenced_primary_samples(samples):
    """Samples with a second read-write node that could acknowledge nothing (fenced):
    not a split brain, but the window a client connected to it directly could see."""
    return [
        {"t": s["t"], "fenced": [n for n, v in s["nodes"].items() if v.get("writable") and v.get("fenced")]}
        for s in samples
        if sum(1 for v in s["nodes"].values() if v.get("writable")) > 1
        and any(v.get("writable") and v.get("fenced") for v in s["nodes"].values())
    ]


def probes_never_healthy(samples, fault_time, leader):
    """The probes that never read the healthy state before the fault: the leader alone
    writable and alone answering 200 on Patroni's /primary, alone UP in each balancer's
    primary backend and named by the DCS key, one holder of each VIP. A probe that cannot
    see the healthy state cannot see a split brain either."""
    before = [s for s in samples if s["t"] < fault_time]
    if not before:
        return ["every probe (no sample before the fault)"]
    first = before[0]
    checks = {f"postgres@{n}": (lambda s, n=n: s["nodes"][n].get("writable") is (n == leader)) for n in first["nodes"]}
    for n in first.get("primary_api") or {}:
        checks[f"patroni@{n}"] = lambda s, n=n: (s["primary_api"].get(n) == 200) is (n == leader)
    for balancer in first.get("haproxy_primary") or {}:
        checks[f"haproxy@{balancer}"] = lambda s, b=balancer: (s.get("haproxy_primary") or {}).get(b) == [leader]
    if "dcs_leader_key" in first:
        checks["dcs"] = lambda s: s.get("dcs_leader_key") == leader
    for field in ("vip", "leader_vip"):
        if first.get(field):
            checks[field] = lambda s, f=field: sum(1 for holds in s[f].values() if holds) == 1
    return sorted(name for name, check in checks.items() if not any(check(s) for s in before))


def unknown_shares(samples, start, end):
    """{probe: share of [start, end] during which it had no fresh reading}: each sample
    stands for the time until the next one."""
    window = end - start
    if window <= 0:
        return {}
    unknown = {}
    for s, following in zip(samples, samples[1:], strict=False):
        overlap = min(following["t"], end) - max(s["t"], start)
        if overlap <= 0:
            continue
        for probe in s.get("unknown", ()):
            unknown[probe] = unknown.get(probe, 0.0) + overlap
    return {probe: round(seconds / window, 3) for probe, seconds in sorted(unknown.items())}


def acks_between(ack_times, start, end):
    """Acknowledgements with start <= time < end."""
    return sum(1 for t in ack_times if start <= t < end)


def ack_rate(ack_times, start, end):
    """Acknowledgements per second in [start, end] (None for a window under a second)."""
    if end - start < 1.0:
        return None
    return sum(1 for t in ack_times if start <= t <= end) / (end - start)


def leader_changes(samples):
    """[(time, leader)] each time the node answering /primary changes (None: no leader)."""
    changes, current = [], object()
    for s in samples:
        primaries = [n for n, status in s["primary_api"].items() if status == 200]
        leader = primaries[0] if len(primaries) == 1 else None
        if leader != current:
            changes.append((s["t"], leader))
            current = leader
    return changes


def leader_moves(samples, since, leader):
    """How many times the leadership passed to another node after `since`, starting
    from `leader` (a moment without a leader is no move)."""
    moves, current = 0, leader
    for t, who in leader_changes(samples):
        if t >= since and who is not None and who != current:
            moves, current = moves + 1, who
    return moves


def time_to_new_leader(samples, fault_time, old_leader):
    """Seconds from the fault until a new leader answers /primary: another node, or the
    old one re-elected on a later timeline. The old leader answering again on its own
    timeline is no new leader (a missed probe or a restart in place looks like that)."""
    old_timeline = None
    for s in samples:
        if s["t"] < fault_time:
            old_timeline = s["nodes"].get(old_leader, {}).get("timeline") or old_timeline
    for s in samples:
        primaries = [n for n, status in s["primary_api"].items() if status == 200]
        if s["t"] < fault_time or len(primaries) != 1:
            continue
        leader = primaries[0]
        timeline = s["nodes"].get(leader, {}).get("timeline")
        if leader != old_leader or (old_timeline and timeline and timeline > old_timeline):
            return s["t"] - fault_time, leader
    return None, None


def writes_stopped_after(samples, fault_time, node):
    """Seconds from the fault until `node` is seen refusing writes (in recovery or
    read-only); None if it never was while sampled."""
    for s in samples:
        if s["t"] >= fault_time and s["nodes"].get(node, {}).get("writable") is False:
            return s["t"] - fault_time
    return None


def acks_per_bucket(ack_times, start, end, bucket=0.1):
    count = int((end - start) / bucket + 1e-9) + 1  # tolerate float error in the division
    buckets = [0] * count
    for t in ack_times:
        if start <= t <= end:
            buckets[min(count - 1, int((t - start) / bucket + 1e-9))] += 1
    return buckets


def stale_samples(samples):
    """Samples in which some probe had no fresh reading."""
    return sum(1 for s in samples if s.get("unknown"))


def longest_sampling_gap(samples):
    times = [s["t"] for s in samples]
    return max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)


def vip_holders(sample):
    return [name for name, holds in sample.get("vip", {}).items() if holds]


def vip_overlaps(samples):
    """[(start, end)] of each stretch of consecutive samples where more than one balancer
    held the VIP (end - start is 0 for a single sample)."""
    stretches, start, last = [], None, None
    for s in samples:
        if len(vip_holders(s)) > 1:
            start = s["t"] if start is None else start
            last = s["t"]
        elif start is not None:
            stretches.append((start, last))
            start = None
    if start is not None:
        stretches.append((start, last))
    return stretches


def vip_moved_after(samples, fault_time, old_holder):
    """Seconds from the fault until one balancer other than `old_holder` alone holds the
    VIP (None: it never moved while sampled)."""
    for s in samples:
        holders = vip_holders(s)
        if s["t"] >= fault_time and len(holders) == 1 and holders[0] != old_holder:
            return s["t"] - fault_time
    return None


def failover_timeline(samples, ack_times, fault_time, old_leader):
    """Where a failover's seconds go: from the fault to each phase as the probes and the
    publisher saw it (None: not seen; sampled every 200 ms, so each is late by up to one
    period). The phases: the last acknowledgement before writes stopped; the leader key
    no longer naming the old leader (released or expired); a successor's name in it;
    the successor taking writes; each balancer's primary backend sending writes to it
    alone; the publisher's first acknowledgement after the successor was elected."""
    after = [s for s in samples if s["t"] >= fault_time]

    def first(predicate, since=fault_time):
        return next((s["t"] for s in after if s["t"] >= since and predicate(s)), None)

    released = first(lambda s: s.get("dcs_leader_key") not in (None, old_leader))
    taken = first(lambda s: s.get("dcs_leader_key") not in (None, "", old_leader))
    successor = next((s["dcs_leader_key"] for s in after if s["t"] == taken), None)
    writable = switched = first_ack = None
    balancers = {}
    if successor:
        writable = first(lambda s: s["nodes"].get(successor, {}).get("writable") is True, taken)
        for balancer in (after[0].get("haproxy_primary") or {}) if after else ():
            balancers[balancer] = _relative(
                first(lambda s, b=balancer: (s.get("haproxy_primary") or {}).get(b) == [successor], taken), fault_time
            )
        if balancers and None not in balancers.values():
            switched = max(balancers.values())
        first_ack = next((t for t in sorted(ack_times) if t >= taken), None)
    last_ack = max((t for t in ack_times if t <= (taken or fault_time)), default=None)
    return {
        "last_ack_before_s": _relative(last_ack, fault_time),
        "leader_key_released_s": _relative(released, fault_time),
        "leader_key_taken_s": _relative(taken, fault_time),
        "successor": successor,
        "successor_writable_s": _relative(writable, fault_time),
        "haproxy_switched_s": balancers,
        "every_balancer_switched_s": switched,
        "first_ack_after_s": _relative(first_ack, fault_time),
    }


def _relative(t, origin):
    return None if t is None else round(t - origin, 2)
