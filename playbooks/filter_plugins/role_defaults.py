"""role_default: a role variable's default as its role's defaults/main.yml writes it (the
role is the variable's prefix), for plays that read a setting without running the role
(playbooks/info.yml). The inventory's own value still comes first: use it as
`hostvars[host].name | default('name' | role_default)`."""

import pathlib

import yaml

ROLES = pathlib.Path(__file__).resolve().parents[2] / "roles"


def role_default(name):
    defaults = yaml.safe_load((ROLES / name.split("_", 1)[0] / "defaults" / "main.yml").read_text())
    return defaults[name]


class FilterModule:
    def filters(self):
        return {"role_default": role_default}
