"""Checks of the whole inventory that playbooks/validate.yml runs on the controller
before any host is touched. Each filter returns messages ([] when all is well); each
message names the variable, the hosts, the value (never a secret's) and what is allowed.

- argument_problems: every role's variables, as each host sets them, against the role's
  meta/argument_specs.yml (types, choices), every `*_port` within 1-65535, and the
  ranges the specs cannot state (playbooks/vars/inventory_rules.yml).
- address_problems: each host its own node_address; every VIP used by no host and
  different from the other VIPs.
- port_problems: no two services of one host on one port and address.
- group_problems: every host in a group that some play deploys.
"""

import importlib.util
import json
import pathlib

import yaml
from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

ROLES = pathlib.Path(__file__).resolve().parents[2] / "roles"
# Words that make a variable a secret even where its spec does not say no_log.
SECRET_WORDS = ("password", "token", "passphrase", "cipher_pass", "secret", "encrypt")
# The keys of an option that ArgumentSpecValidator checks a given value against.
CHECKED_KEYS = ("type", "elements", "choices", "options", "no_log")
PORT_RANGE = (1, 65535)
# What each of ArgumentSpecValidator's errors means, said without the value (a secret's
# would be in its message).
ERRORS = {"ArgumentTypeError": "wrong type", "ArgumentValueError": "not one of the choices"}


def role_options():
    """{role: {variable: option}} from every role's argument_specs (main entry point)."""
    options = {}
    for spec_file in sorted(ROLES.glob("*/meta/argument_specs.yml")):
        main = yaml.safe_load(spec_file.read_text())["argument_specs"].get("main", {})
        options[spec_file.parents[1].name] = main.get("options") or {}
    return options


def given(hostvars, host, name):
    """(True, value) when the inventory sets `name` for `host` and the value can be known
    on the controller; (False, None) otherwise (unset, or built from a role default that
    only the role's run knows: the role's own argument check sees it then)."""
    values = hostvars[host]
    if name not in values:
        return False, None
    try:
        value = values[name]
    except AnsibleError:
        return False, None
    if isinstance(value, str) and "{{" in value:
        return False, None
    return True, value


def shown(name, option, value):
    if option.get("no_log") or any(word in name for word in SECRET_WORDS):
        return "(a secret, not shown)"
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return repr(str(value))


def allowed(option, limits):
    kind = option.get("type", "str")
    article = "an" if kind[0] in "aeiou" else "a"
    parts = [f"{article} {kind}" + (f" of {option['elements']}" if option.get("elements") else "")]
    if option.get("choices"):
        parts.append("one of " + ", ".join(map(str, option["choices"])))
    if limits:
        parts.append(f"from {limits[0]} to {limits[1]}")
    return ", ".join(parts)


def option_problems(name, option, value, limits):
    """Why `value` is not allowed for the option ([]: it is)."""
    kind = option.get("type", "str")
    if kind in ("str", "path") and isinstance(value, (dict, list)):
        return ["wrong type"]
    checked = {key: option[key] for key in CHECKED_KEYS if key in option}
    result = ArgumentSpecValidator({name: checked}).validate({name: value})
    if result.error_messages:
        return [ERRORS.get(type(error).__name__, "not allowed") for error in result.errors.errors]
    if limits:
        number = result.validated_parameters[name]
        if isinstance(number, (int, float)) and not limits[0] <= number <= limits[1]:
            return ["out of range"]
    return []


def limits_of(name, option, ranges):
    if name in ranges:
        return tuple(ranges[name])
    if name.endswith("_port") and option.get("type") == "int":
        return PORT_RANGE
    return None


def grouped(found, every=()):
    """Messages from {message: [hosts]}, the hosts named once per message."""
    return [
        f"{message} (on {'every host' if sorted(hosts) == sorted(every) else ', '.join(hosts)})"
        for message, hosts in found.items()
    ]


def argument_problems(hostvars, hosts, ranges):
    found = {}
    for role, options in role_options().items():
        for name, option in options.items():
            limits = limits_of(name, option, ranges)
            for host in hosts:
                is_set, value = given(hostvars, host, name)
                if not is_set:
                    continue
                for problem in option_problems(name, option, value, limits):
                    what = f"{problem}; role {role} allows {allowed(option, limits)}"
                    found.setdefault(f"{name} = {shown(name, option, value)}: {what}", []).append(host)
    return grouped(found, hosts)


def address_problems(hostvars, hosts, vips):
    """vips: {variable: address} of every VIP the inventory sets ('' when unset)."""
    owners = {}
    for host in hosts:
        is_set, address = given(hostvars, host, "node_address")
        if is_set and address:
            owners.setdefault(str(address), []).append(host)
    problems = [
        f"node_address {address} is given to {' and '.join(names)}: each host needs its own address"
        for address, names in owners.items()
        if len(names) > 1
    ]
    set_vips = {name: str(address) for name, address in vips.items() if address}
    for name, address in set_vips.items():
        if address in owners:
            problems.append(
                f"{name} = {address} is the node_address of {', '.join(owners[address])}: a VIP must be an "
                "address no host uses (keepalived would put it on a second interface)"
            )
    for address in set(set_vips.values()):
        names = sorted(name for name, value in set_vips.items() if value == address)
        if len(names) > 1:
            problems.append(f"{' and '.join(names)} are both {address}: each VIP needs its own address")
    return problems


def role_defaults():
    """Every role's defaults as written (a templated one is not a number here), read by
    the role_default filter beside this file (Ansible loads each plugin file alone)."""
    path = pathlib.Path(__file__).with_name("role_defaults.py")
    spec = importlib.util.spec_from_file_location("role_defaults", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.all_defaults()


def port_problems(hostvars, groups, listeners):
    """listeners: [{group, variable, bind, when_group}] (bind: node and/or vip), the services
    each group's hosts run; a port the inventory does not set is its role's default."""
    defaults = role_defaults()
    active = [item for item in listeners if groups.get(item.get("when_group", "all"))]
    found = {}
    for host in sorted({host for item in active for host in groups.get(item["group"], [])}):
        taken = {}
        for item in active:
            if host not in groups.get(item["group"], []):
                continue
            name = item["variable"]
            is_set, port = given(hostvars, host, name)
            try:
                port = int(port if is_set else defaults.get(name))
            except (TypeError, ValueError):
                continue  # a wrong type: argument_problems names it
            for address in item["bind"]:
                names = taken.setdefault((address, port), [])
                if name not in names:
                    names.append(name)
        for (address, port), names in taken.items():
            if len(names) > 1:
                where = "the VIP" if address == "vip" else "the node address"
                message = f"{' and '.join(names)} are all {port}: two services cannot listen on one port of {where}"
                found.setdefault(message, []).append(host)
    return grouped(found)


def group_problems(groups, deployed_groups):
    """Hosts that no play deploys anything to (in none of `deployed_groups`)."""
    deployed = {host for group in deployed_groups for host in groups.get(group, [])}
    idle = sorted(set(groups.get("all", [])) - deployed)
    return [
        f"{host} is in no group that a play deploys ({', '.join(deployed_groups)}): add it to one or remove it"
        for host in idle
    ]


class FilterModule:
    def filters(self):
        return {
            "argument_problems": argument_problems,
            "address_problems": address_problems,
            "port_problems": port_problems,
            "group_problems": group_problems,
        }
