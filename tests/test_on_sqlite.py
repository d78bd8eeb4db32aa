"""`make run` keeps its data in SQLite; the suite runs on PostgreSQL. Where a query is built
differently for SQLite, or SQLite lacks what PostgreSQL has, the tests of that behaviour run
on SQLite too, in a pytest of their own (settings are read once per process)."""

import subprocess
import sys

import pytest

from tests.processes import ROOT, environ

# Each the test of a query that needs no PostgreSQL-only feature to hold on SQLite as well.
ON_SQLITE_TOO = [
    # The audit trail's JSON list of assisting departments (no JSON containment there).
    "tests/cases/test_case_page_after_acting.py::"
    "test_a_summoned_department_let_go_meanwhile_is_told_so_when_it_reports",
]


@pytest.mark.parametrize("test", ON_SQLITE_TOO)
def test_it_holds_on_sqlite_as_well(test, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", test],
        cwd=ROOT,
        env=environ(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout


def test_a_run_on_sqlite_says_the_suite_is_meant_for_postgresql(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-p", "no:cacheprovider"]
        + ["-p", "no:xdist", "tests/test_demo_runner.py"],
        cwd=ROOT,
        env=environ(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "database: SQLite: the suite is meant for PostgreSQL; set DATABASE_URL" in run.stdout
