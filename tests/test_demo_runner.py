"""`make run`'s process manager refuses a web address that is already taken before it
starts anything (governance/demo_runner.py)."""

import socket
import subprocess
import sys

import pytest

from governance.demo_runner import port_in_use
from tests.processes import ROOT, environ, free_port


@pytest.fixture
def listening_port():
    """A loopback port a server listens on, as a `make run` still running holds 8000."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def test_a_port_nothing_listens_on_is_free():
    assert not port_in_use("127.0.0.1", free_port())


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_a_port_a_server_listens_on_is_in_use_also_on_every_interface(listening_port, host):
    assert port_in_use(host, listening_port)


def demo_runner(command: str, port: int, tmp_path) -> subprocess.CompletedProcess:
    env = environ(
        HOST="127.0.0.1",
        PORT=str(port),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_BROKER_URL="memory://",
    )
    return subprocess.run(
        [sys.executable, "-m", "governance.demo_runner", command, "-f", "Procfile"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_run_on_a_taken_port_says_so_and_starts_nothing(tmp_path, listening_port):
    finished = demo_runner("start", listening_port, tmp_path)
    assert finished.returncode == 1
    assert finished.stderr.strip() == (
        f"Port {listening_port} on 127.0.0.1 is in use: is `make run` already running? "
        f"Stop it (Ctrl-C in its terminal), or start this one on another port: "
        f"PORT={listening_port + 1} make run"
    )
    assert "started" not in finished.stdout


def test_honchos_commands_that_start_no_server_do_not_care_about_the_port(tmp_path, listening_port):
    finished = demo_runner("check", listening_port, tmp_path)
    assert finished.returncode == 0, finished.stderr
    assert "Valid procfile detected (web, worker, beat)" in finished.stderr
