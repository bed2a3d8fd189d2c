"""role_default: a role variable as a host gets it without running the role (for
playbooks/info.yml, playbooks/validate.yml and the drills): the inventory's value when
`known` (a host's hostvars, or any mapping) sets it, else the default its role's
defaults/main.yml writes (the role is the variable's prefix).

A default built from other variables ("{{ patroni_failover_presets[...].ttl }}") is
rendered with the same rule for each variable it reads, so `pgha_failover_preset` set in
the inventory picks the preset: `'patroni_ttl' | role_default(hostvars[host])`. Only the
variables a template reads are looked up in `known`. One that needs more than plain
Jinja (Ansible's own filters, lookups or facts) comes back as written."""

import functools
import pathlib

import jinja2
import yaml

ROLES = pathlib.Path(__file__).resolve().parents[2] / "roles"
ENVIRONMENT = jinja2.Environment(undefined=jinja2.StrictUndefined)


@functools.cache
def all_defaults():
    defaults = {}
    for path in sorted(ROLES.glob("*/defaults/main.yml")):
        defaults.update(defaults_of(path.parents[1].name))
    return defaults


def is_template(value):
    return isinstance(value, str) and "{{" in value


class Resolved(dict):
    """The roles' defaults under `known`; a template is rendered when it is read."""

    def __init__(self, known):
        super().__init__(all_defaults())
        self.known = {} if known is None else known

    def __contains__(self, name):
        return name in self.known or super().__contains__(name)

    def __getitem__(self, name):
        if name in self.known and not is_template(self.known[name]):
            return self.known[name]
        value = super().__getitem__(name)
        if not is_template(value):
            return value
        template = ENVIRONMENT.from_string(value)
        return ENVIRONMENT.concat(template.root_render_func(template.new_context(self, shared=True)))


@functools.cache
def defaults_of(role):
    return yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text()) or {}


def role_default(name, known=None):
    if name not in defaults_of(name.split("_", 1)[0]):
        raise KeyError(f"{name} is not in roles/{name.split('_', 1)[0]}/defaults/main.yml")
    try:
        return Resolved(known)[name]
    except (jinja2.TemplateError, KeyError, TypeError):
        return all_defaults()[name]


class FilterModule:
    def filters(self):
        return {"role_default": role_default}
