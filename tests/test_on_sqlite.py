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


def pytest_on_sqlite(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """pytest in a process of its own whose settings read an SQLite DATABASE_URL."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", *args],
        cwd=ROOT,
        env=environ(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return run


@pytest.mark.parametrize("test", ON_SQLITE_TOO)
def test_it_holds_on_sqlite_as_well(test, tmp_path):
    assert "1 passed" in pytest_on_sqlite(tmp_path, "-q", test).stdout


def test_a_run_on_sqlite_says_the_suite_is_meant_for_postgresql(tmp_path):
    run = pytest_on_sqlite(tmp_path, "--collect-only", "tests/test_demo_runner.py")
    assert "database: SQLite: the suite is meant for PostgreSQL; set DATABASE_URL" in run.stdout
