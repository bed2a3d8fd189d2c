"""The build id GET /health reports: the same for the same code wherever it is
installed, another after any change of code or static files."""

import shutil

from aggregator.build import PACKAGE, RUNNING, build_id


def copy_of_the_package(tmp_path):
    copy = tmp_path / "aggregator"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_the_same_files_elsewhere_are_the_same_build(tmp_path):
    copy = copy_of_the_package(tmp_path)
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "build.cpython-311.pyc").write_bytes(b"compiled elsewhere")
    assert build_id(copy) == build_id() == RUNNING


def test_a_changed_module_or_static_file_is_another_build(tmp_path):
    copy = copy_of_the_package(tmp_path)
    before = build_id(copy)
    module = copy / "ingest.py"
    module.write_text(module.read_text() + "\n# one more line\n")
    changed_code = build_id(copy)
    page = copy / "static" / "status.html"
    page.write_text(page.read_text().replace("<", " <", 1))
    assert len({before, changed_code, build_id(copy)}) == 3


def test_a_file_no_install_copies_does_not_change_the_build(tmp_path):
    copy = copy_of_the_package(tmp_path)
    before = build_id(copy)
    (copy / "NOTES.txt").write_text("not part of the package data")
    assert build_id(copy) == before


def test_a_renamed_module_is_another_build(tmp_path):
    copy = copy_of_the_package(tmp_path)
    before = build_id(copy)
    (copy / "stats.py").rename(copy / "stats_renamed.py")
    assert build_id(copy) != before
