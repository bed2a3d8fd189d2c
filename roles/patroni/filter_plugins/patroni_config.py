"""patroni_config_patch: the PATCH /config body that brings Patroni's dynamic
configuration to the inventory's, and nothing else."""


def _same(current, desired):
    # Patroni compares scalars as text ("20" and 20 are one value to it), booleans and
    # lists as they are.
    if isinstance(current, bool) or isinstance(desired, (bool, list)):
        return current == desired
    return str(current) == str(desired)


def _difference(current, desired):
    patch = {}
    for key, value in desired.items():
        now = current.get(key) if isinstance(current, dict) else None
        if isinstance(value, dict) and isinstance(now, dict):
            nested = _difference(now, value)
            if nested:
                patch[key] = nested
        elif key not in (current or {}) or not _same(now, value):
            patch[key] = value
    return patch


def patroni_config_patch(current, desired, managed_key):
    """Keys whose values differ, plus null (Patroni's "remove") for each PostgreSQL
    parameter that `current[managed_key]` says this project set and `desired` no longer
    sets. Parameters set by hand outside the project are left alone."""
    current = current or {}
    patch = _difference(current, desired)
    wanted = desired.get("postgresql", {}).get("parameters", {})
    present = current.get("postgresql", {}).get("parameters", {})
    dropped = [name for name in current.get(managed_key) or [] if name not in wanted and name in present]
    for name in dropped:
        patch.setdefault("postgresql", {}).setdefault("parameters", {})[name] = None
    return patch


class FilterModule:
    def filters(self):
        return {"patroni_config_patch": patroni_config_patch}
