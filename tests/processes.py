"""Starting the project's own processes (manage.py, the Procfile's lines) as a deployment
would: settings come from the environment once, at start-up, so each case runs in a fresh
process with an environment of its own."""

import os
import runpy
import secrets
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def environ(**overrides) -> dict:
    """This process's environment without the settings a test sets itself, plus overrides
    (an override of None removes the variable, so that the setting's default applies)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SITE_URL", "EMAIL_", "AXES_"))
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


def production(host: str = "example.org", **overrides) -> dict:
    """The settings a production start-up must have (SPEC §8), for `host`."""
    return {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": host,
        "SITE_URL": f"https://{host}",
        **overrides,
    }


def free_port() -> int:
    """A loopback port nothing listens on (just now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_settings(var_dir: Path, **overrides) -> dict:
    """governance/settings.py evaluated afresh with the environment a process started with
    `environ(**overrides)` would have, in this process: what the module would make of it,
    at the cost of a module, not of a Python and Django start-up. Nothing is configured:
    the settings Django runs the tests with are untouched."""
    env = environ(VAR_DIR=str(var_dir), **overrides)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        return runpy.run_path(str(ROOT / "governance" / "settings.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
