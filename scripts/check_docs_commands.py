#!/usr/bin/env python3
"""Every command the documentation shows exists: each playbook path, each `make` target,
each drill name (`python -m drills <name>`, `make drill DRILL=<name>`, `-e drill=<name>`)
and each script. Prints what it found missing, page by page; exits 1 if anything is."""

import pathlib
import re
import sys

from drills.__main__ import GROUPS, RESTORE_DRILLS
from drills.catalogue import CATALOGUE

REPO = pathlib.Path(__file__).resolve().parents[1]
DRILLS = {*CATALOGUE, *RESTORE_DRILLS, *GROUPS}
PATTERNS = {
    "playbook": re.compile(r"(?<![\w/.-])((?:playbooks/)?[\w-]+\.yml)\b"),
    "make target": re.compile(r"\bmake ([a-z][\w-]*)"),
    "drill": re.compile(r"(?:python -m drills|DRILL=|-e drill=)[ \t]*([a-z][\w-]*)"),
    "script": re.compile(r"\b(scripts/[\w.-]+|bench/[\w.-]+\.py)"),
}


def make_targets():
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([a-z][\w-]*):", text, flags=re.M))


def commands(page):
    """The text of a page's code: fenced blocks and `inline` spans."""
    text = page.read_text()
    fenced = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return fenced + inline


def problems(page, targets):
    found = []
    shown = page.relative_to(REPO) if page.is_relative_to(REPO) else page
    for code in commands(page):
        for kind, pattern in PATTERNS.items():
            for name in pattern.findall(code):
                if kind == "playbook":
                    if not (name.startswith("playbooks/") or name == "site.yml"):
                        continue  # other YAML files (group_vars, vault.yml, ...) are not commands
                    missing = not (REPO / name).exists()
                elif kind == "make target":
                    missing = name not in targets
                elif kind == "drill":
                    missing = name not in DRILLS
                else:
                    missing = not (REPO / name).exists()
                if missing:
                    found.append(f"{shown}: {kind} {name!r} does not exist")
    return found


def main(pages=None):
    targets = make_targets()
    pages = pages or [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    found = sorted({p for page in pages for p in problems(page, targets)})
    for line in found:
        print(line, file=sys.stderr)
    print(f"checked the commands of {len(pages)} pages: {len(found)} missing")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main([pathlib.Path(a).resolve() for a in sys.argv[1:]]))
