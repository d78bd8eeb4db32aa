"""The Procfile's processes as a deployment runs them: production settings, a fresh
VAR_DIR, nothing prepared beforehand. The web's pages need their CSS and scripts, a load
balancer probing /healthz over plain HTTP behind the TLS proxy needs a 200, not a redirect
to HTTPS, and beat must start where no var/ folder exists yet."""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.processes import ROOT, environ, free_port, production


def procfile_command(name: str) -> str:
    procfile = (ROOT / "Procfile").read_text().splitlines()
    return next(line.split(":", 1)[1].strip() for line in procfile if line.startswith(f"{name}:"))


def stop(process: subprocess.Popen) -> None:
    """The whole process group: the shell may not have exec'd the command it ran."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def production_env(tmp_path, **extra) -> dict:
    """`extra` overrides the defaults here; None removes one (the setting's default then)."""
    return environ(
        **{
            **production(host="127.0.0.1"),
            "VAR_DIR": str(tmp_path / "var"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "CELERY_BROKER_URL": "memory://",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            **extra,
        }
    )


@pytest.fixture
def web(tmp_path):
    with serving(tmp_path) as address:
        yield address


@contextlib.contextmanager
def serving(tmp_path, **extra):
    """The Procfile's web process, one worker, on a free loopback port: its address."""
    port = free_port()
    env = production_env(tmp_path, HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY="1", **extra)
    log = open(tmp_path / "web.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        ["sh", "-c", procfile_command("web")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "web.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "web.log").read_text()
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)
        log.close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def get(url: str, **headers) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_web_process_serves_its_static_files_and_answers_probes_over_http(web):
    behind_tls = {"X-Forwarded-Proto": "https"}

    status, css = get(f"{web}/static/css/app.css", **behind_tls)
    assert status == 200 and b"{" in css
    status, script = get(f"{web}/static/vendor/leaflet/leaflet.js", **behind_tls)
    assert status == 200 and b"Leaflet" in script
    assert get(f"{web}/static/admin/css/base.css", **behind_tls)[0] == 200
    # The site's icon, linked from its pages and the admin's (a 404 per page view before).
    status, icon = get(f"{web}/static/favicon.svg", **behind_tls)
    assert status == 200 and icon.startswith(b"<svg")
    for page in ("/accounts/login/", "/admin/login/"):
        status, html = get(f"{web}{page}", **behind_tls)
        assert status == 200 and b'<link rel="icon" href="/static/favicon.svg"' in html

    status, body = get(f"{web}/healthz")
    assert status == 200 and b'"database": "ok"' in body
    # A load balancer probes the backend by its address, no host the site serves.
    assert get(f"{web}/healthz", Host="10.1.2.3:8000")[0] == 200
    assert get(f"{web}/cases/", Host="10.1.2.3:8000")[0] == 400
    assert get(f"{web}/cases/")[0] == 301  # everything else still goes to HTTPS


def test_the_web_process_serves_the_site_under_the_path_its_proxy_gives(tmp_path):
    """Behind a proxy that serves the site at https://…/gz and passes on the path below it
    (README): pages, redirects and their style sheets all under /gz."""
    behind_tls = {"X-Forwarded-Proto": "https"}
    with serving(tmp_path, SITE_URL="https://127.0.0.1/gz") as web:
        status, html = get(f"{web}/accounts/login/", **behind_tls)
        assert status == 200
        style_sheet = re.search(rb'<link rel="stylesheet" href="([^"]+)"', html)[1].decode()
        assert style_sheet.startswith("/gz/static/")
        status, css = get(f"{web}{style_sheet.removeprefix('/gz')}", **behind_tls)
        assert status == 200 and b"{" in css
        redirect = urllib.request.Request(f"{web}/cases/", headers=behind_tls)
        with pytest.raises(urllib.error.HTTPError) as to_sign_in:
            urllib.request.build_opener(NoRedirect).open(redirect, timeout=10)
        assert to_sign_in.value.code == 302
        assert to_sign_in.value.headers["Location"] == "/gz/accounts/login/?next=/gz/cases/"


def test_beat_starts_on_a_fresh_var_dir_and_keeps_its_schedule_there(tmp_path):
    schedule = tmp_path / "var" / "celerybeat-schedule"
    log = open(tmp_path / "beat.log", "w")  # noqa: SIM115
    beat = subprocess.Popen(
        ["sh", "-c", procfile_command("beat")],
        cwd=ROOT,
        env=production_env(tmp_path),
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not list(schedule.parent.glob("celerybeat-schedule*")):
            assert beat.poll() is None, (tmp_path / "beat.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "beat.log").read_text()
            time.sleep(0.3)
        time.sleep(1)
        assert beat.poll() is None, (tmp_path / "beat.log").read_text()
        # The shell became beat (exec): a supervisor that signals only the process it
        # started stops beat itself, and leaves no second beat running on.
        beat.send_signal(signal.SIGTERM)
        beat.wait(20)
        with pytest.raises(ProcessLookupError):
            os.killpg(beat.pid, 0)
    finally:
        if beat.poll() is None:
            stop(beat)
        log.close()


# Run in `manage.py shell`: an email through the outbox (a task on the `mail` queue) and a
# sweep (on `celery`), as the web process and the beat queue them.
QUEUE_AN_EMAIL_AND_A_SWEEP = """
from django.db import transaction
from cases import tasks
from cases.services.outbox.enqueue import enqueue_email
with transaction.atomic():
    enqueue_email(
        to="demo@example.org", subject="Sent by the worker", text="Hello.",
        kind="test", dedupe_key="procfile:1",
    )
tasks.escalate_overdue.delay()
"""


def test_the_worker_takes_emails_and_sweeps_from_both_queues_of_the_demos_file_broker(
    tmp_path,
):
    # The demo's broker (CELERY_BROKER_URL's default): a folder of files, named by queue.
    env = production_env(tmp_path, CELERY_BROKER_URL=None)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [*manage, "shell", "-v", "0", "-c", QUEUE_AN_EMAIL_AND_A_SWEEP],
        cwd=ROOT,
        env=env,
        check=True,
    )
    broker = tmp_path / "var" / "broker"
    assert sorted(path.name.rsplit(".", 2)[1] for path in broker.glob("*.msg")) == [
        "celery",
        "mail",
    ]
    log_file = tmp_path / "worker.log"
    log = open(log_file, "w")  # noqa: SIM115
    # The Procfile's worker names no queue (-Q): it must consume both.
    worker = subprocess.Popen(
        ["sh", "-c", procfile_command("worker")],
        cwd=ROOT,
        env={**env, "WORKER_CONCURRENCY": "1"},
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    tasks = ("cases.escalate_overdue", "cases.send_outbox_message")
    try:
        deadline = time.monotonic() + 60
        while not all(succeeded(task, log_file.read_text()) for task in tasks):
            assert worker.poll() is None, log_file.read_text()
            assert time.monotonic() < deadline, log_file.read_text()
            time.sleep(0.3)
    finally:
        stop(worker)
        log.close()
    # The console backend (EMAIL_URL's default) printed the email, and nothing is left but,
    # at most, a task that succeeded: stopped (SIGTERM to the whole group) between a task's
    # end and its late acknowledgement, the worker puts the message back, to be done again.
    # Printed through Celery's redirect, logged at INFO: WARNING read as a fault in make run.
    log_text = log_file.read_text()
    assert "Subject: Sent by the worker" in log_text
    assert "INFO celery.redirected: Content-Type" in log_text
    assert "WARNING celery.redirected" not in log_text
    left = [json.loads(path.read_text())["headers"]["task"] for path in broker.glob("*.msg")]
    assert set(left) <= set(tasks), left


def succeeded(task: str, log: str) -> bool:
    return re.search(rf"Task {re.escape(task)}\[[^]]+\] succeeded", log) is not None


def test_make_run_bound_to_every_interface_links_to_an_address_it_answers():
    """`HOST=0.0.0.0 make run` (the demo shown on a LAN): SITE_URL was http://0.0.0.0:…,
    which the start-up check refuses (no such host is allowed), and every process stopped."""
    result = subprocess.run(
        ["make", "-n", "run", "HOST=0.0.0.0", "PORT=8123"],
        cwd=ROOT,
        env=environ(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert 'SITE_URL="${SITE_URL:-http://127.0.0.1:8123}"' in result.stdout, result.stdout
    assert "starting at http://127.0.0.1:8123/" in result.stdout


def post(url: str, data: bytes, **headers) -> int:
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with opener.open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_web_process_logs_no_signed_links_token(web, tmp_path):
    """An acknowledge link acts for its recipient for 14 days, an invitation sets a
    password, an Open311 API key posts cases: neither gunicorn's access log nor Django's
    warnings may write their tokens."""
    from django.core import signing

    ack = signing.dumps({"p": 12, "a": "boss@example.org"}, salt="t", compress=True)
    invite = signing.dumps({"u": 7, "f": "x" * 12}, salt="u", compress=True)
    behind_tls = {"X-Forwarded-Proto": "https"}

    get(f"{web}/escalations/ack/{ack}/", **behind_tls)
    get(f"{web}/extensions/decide/{ack}/?x=1", **behind_tls)
    # A page opened from a link sends it as its Referer (same-origin policy).
    referer = f"https://127.0.0.1/escalations/ack/{ack}/"
    get(f"{web}/static/css/app.css", Referer=referer, **behind_tls)
    # An Open311 client's key, sent in the query string, posts as the client.
    api_key = "abcd1234.a-key-sent-in-the-query-string"
    post(f"{web}/open311/v2/requests.json?api_key={api_key}&service_code=X", b"", **behind_tls)
    # No CSRF cookie: django.security.csrf warns with the path.
    assert post(f"{web}/accounts/invite/{invite}/", b"a=1", **behind_tls) == 403

    log = tmp_path / "web.log"
    deadline = time.monotonic() + 10
    while not all(line in log.read_text() for line in ("POST /accounts/invite/", "Forbidden")):
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    text = log.read_text()
    for token in (ack, invite):
        assert token not in text
        assert token.rsplit(":", 1)[1] not in text  # not even the signature
    assert "GET /escalations/ack/…/ HTTP/1.1" in text
    assert "GET /extensions/decide/…/?x=1" in text
    assert '"https://127.0.0.1/escalations/ack/…/"' in text
    assert "POST /accounts/invite/…/ HTTP/1.1" in text
    assert "Forbidden (" in text and "/accounts/invite/…/" in text
    assert api_key not in text and "POST /open311/v2/requests.json?api_key=…&service_code=X" in text


def test_the_log_masks_name_every_signed_links_path():
    from django.urls import reverse

    from cases.signed_links import LINK_PREFIXES, LINK_VIEWS

    assert (
        tuple(reverse(name, args=["T"]).removesuffix("T/") for name in LINK_VIEWS) == LINK_PREFIXES
    )


def test_ctrl_c_on_make_run_lets_every_process_stop_on_its_own(tmp_path):
    """Ctrl-C on `make run`: honcho sent SIGTERM to each process's whole group and killed
    what still ran 5 s later. The demo's worker saw its pool processes die under it (logged
    as errors) and, on the file broker, took longer than that over its warm shutdown, or
    hung: it was killed mid-way (`sending SIGKILL to worker.1`)."""
    port = free_port()
    dry_run = subprocess.run(
        # The venv running this test: `make test-next` runs in one of its own, not .venv.
        ["make", "-n", "run", f"PORT={port}", f"VENV={sys.prefix}"],
        cwd=ROOT,
        env=environ(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    start = next(line for line in dry_run.stdout.splitlines() if "start -f Procfile" in line)
    env = environ(
        VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_BROKER_URL=None,  # the demo's file broker
        CACHE_URL=None,
        REDIS_URL=None,
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    log_path = tmp_path / "run.log"
    with open(log_path, "w") as log:
        demo = subprocess.Popen(
            ["sh", "-c", start],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's job is
        )
        try:
            deadline = time.monotonic() + 90
            while not (
                re.search(r"worker\.1 .*celery@\S+ ready", log_path.read_text())
                and "Listening at" in log_path.read_text()
                and answers(f"http://127.0.0.1:{port}/healthz")
            ):
                assert demo.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.5)
            os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
            demo.wait(60)
        finally:
            if demo.poll() is None:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait()
    output = log_path.read_text()
    assert "SIGKILL" not in output, output
    assert "exited with 'signal 15" not in output, output  # a pool process killed under it
    for name in ("web", "worker", "beat"):
        assert re.search(rf"{name}\.1 stopped \(rc=0\)", output), output


def answers(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except OSError:
        return False
