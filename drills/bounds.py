"""The longest write gap a drill's configuration allows, computed from the inventory and
Patroni's dynamic configuration before the fault. Each term names the setting it comes
from; a measured gap above the sum is a configuration defect, not noise.

MARGIN covers what no setting bounds: starting or promoting PostgreSQL, a process
restart, and the client's first retries (the publisher backs off 0.1, 0.2, 0.4 ... s).
"""

import re

MARGIN = 5.0


def seconds(value):
    """HAProxy/keepalived durations ("1s", "500ms", 2, "2") in seconds."""
    found = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s|m)?\s*", str(value))
    if not found:
        raise ValueError(f"not a duration: {value!r}")
    number, unit = float(found.group(1)), found.group(2) or "s"
    return number * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]


class Terms:
    """The terms of one bound, from the cluster's settings and Patroni's configuration."""

    def __init__(self, cluster, config):
        setting = cluster.setting
        self.ttl = float(config["ttl"])
        self.loop_wait = float(config["loop_wait"])
        self.retry_timeout = float(config["retry_timeout"])
        inter, fastinter = seconds(setting("haproxy_check_interval")), seconds(setting("haproxy_check_fastinter"))
        check_timeout = seconds(setting("haproxy_check_timeout"))
        rise, fall = int(setting("haproxy_check_rise")), int(setting("haproxy_check_fall"))
        # A server is checked every `inter` while down, then every `fastinter` until `rise` passed.
        self.haproxy_up = inter + (rise - 1) * fastinter + check_timeout
        self.haproxy_down = inter + (fall - 1) * fastinter + check_timeout
        self.connect_timeout = float(setting("aggregator_db_connect_timeout"))
        advert = float(setting("keepalived_advert_int"))
        # VRRP: a backup takes over after 3 missed advertisements plus its skew (< 1 advert).
        self.vrrp_takeover = 4 * advert
        self.track_script = float(setting("keepalived_check_interval")) * int(setting("keepalived_check_fall"))

    def bound(self, **terms):
        """(seconds, {term: seconds}) of the named terms plus MARGIN."""
        terms = {name: round(value, 3) for name, value in terms.items()}
        terms["margin"] = MARGIN
        return round(sum(terms.values()), 3), terms
