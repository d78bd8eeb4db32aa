"""`make run`'s process manager: honcho, stopping the Procfile's processes the way their
own shutdown expects.

On Ctrl-C, honcho sends SIGTERM to each process's whole group and kills whatever still
runs 5 s later. The Celery worker then saw its pool processes die under it (logged as
errors) and, on the demo's file broker, needed 7-9 s for its warm shutdown (it polls the
broker 2 s at a time, then waits for its pool), so it was killed mid-way. Here SIGTERM goes
to each process alone (gunicorn and Celery stop their own children), and what still runs
30 s later is killed, group and all, as before.

Before anything starts, the web's address is checked: a port already taken (often by a
`make run` still running) stops here with a line that says so, instead of gunicorn
retrying for five seconds while the worker and beat start and sweep, then all of them
stopping on its error.

    python -m governance.demo_runner start -f Procfile
"""

import contextlib
import os
import signal
import socket
import sys

from honcho import command, compat, manager

STOP_WAIT_SECONDS = 30


def terminate(self, pid: int) -> None:
    """honcho's ProcessManager.terminate, to the process itself instead of its group."""
    with contextlib.suppress(ProcessLookupError):  # it stopped meanwhile
        os.kill(pid, signal.SIGTERM)


def port_in_use(host: str, port: int) -> bool:
    family, kind, proto, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as probe:
        # As gunicorn binds: a port left in TIME_WAIT by a server just stopped is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            return True
    return False


def refuse_a_taken_port() -> None:
    # The Procfile's defaults, which `make run` overrides with HOST and PORT.
    host, port = os.environ.get("HOST") or "0.0.0.0", int(os.environ.get("PORT") or 8000)
    if port_in_use(host, port):
        sys.exit(
            f"Port {port} on {host} is in use: is `make run` already running? Stop it (Ctrl-C "
            f"in its terminal), or start this one on another port: PORT={port + 1} make run"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["start"]:  # honcho's other commands start no server
        refuse_a_taken_port()
    manager.KILL_WAIT = STOP_WAIT_SECONDS
    compat.ProcessManager.terminate = terminate
    sys.exit(command.main())
