"""The build an aggregator runs: a digest of its package's code and static files. Every
node that installed the same source reports the same build, and any change of code
gives another; GET /health names it, so an operator (and the rolling-upgrade drill)
can tell which nodes run the new code."""

import hashlib
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent
# What an install copies into the package (pyproject's package data included).
PATTERNS = ("**/*.py", "static/*")


def build_id(package=PACKAGE):
    """The first 12 hex digits of the SHA-256 of the package's files, each named by its
    path inside the package (compiled caches, *.pyc, match no pattern)."""
    files = {path for pattern in PATTERNS for path in package.glob(pattern) if path.is_file()}
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.relative_to(package).as_posix()):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


# This process's build, read when the code is imported: a deploy unpacks the new files
# under a running process before it restarts it.
RUNNING = build_id()
