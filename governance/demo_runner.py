"""`make run`'s process manager: honcho, stopping the Procfile's processes the way their
own shutdown expects.

On Ctrl-C, honcho sends SIGTERM to each process's whole group and kills whatever still
runs 5 s later. The Celery worker then saw its pool processes die under it (logged as
errors) and, on the demo's file broker, needed 7-9 s for its warm shutdown (it polls the
broker 2 s at a time, then waits for its pool), so it was killed mid-way. Here SIGTERM goes
to each process alone (gunicorn and Celery stop their own children), and what still runs
30 s later is killed, group and all, as before.

    python -m governance.demo_runner start -f Procfile
"""

import contextlib
import os
import signal
import sys

from honcho import command, compat, manager

STOP_WAIT_SECONDS = 30


def terminate(self, pid: int) -> None:
    """honcho's ProcessManager.terminate, to the process itself instead of its group."""
    with contextlib.suppress(ProcessLookupError):  # it stopped meanwhile
        os.kill(pid, signal.SIGTERM)


if __name__ == "__main__":
    manager.KILL_WAIT = STOP_WAIT_SECONDS
    compat.ProcessManager.terminate = terminate
    sys.exit(command.main())
