"""Bound terms as the balanced preset sets them, for the drills' unit tests (a module,
not a conftest: tests/app has its own conftest, imported by name)."""

from drills.bounds import Terms

# The settings a bound reads from the inventory, as the balanced preset sets them.
BALANCED = {
    "haproxy_check_interval": "500ms",
    "haproxy_check_fastinter": "250ms",
    "haproxy_check_timeout": "2s",
    "haproxy_check_rise": 3,
    "haproxy_check_fall": 2,
    "aggregator_db_connect_timeout": 3,
    "keepalived_advert_int": 1,
    "keepalived_check_interval": 1,
    "keepalived_check_fall": 2,
}


class Settings:
    def setting(self, name):
        return BALANCED[name]


def balanced_terms():
    """Bound terms with ttl 20, loop_wait 5, retry_timeout 5 (balanced)."""
    return Terms(Settings(), {"ttl": 20, "loop_wait": 5, "retry_timeout": 5})
