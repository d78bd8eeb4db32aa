"""`manage.py check --deploy` with production settings (SPEC §8): no warning at all, and
a production start-up without a secret key, or with email links to a foreign host, fails.
The demo's default broker needs nothing made beforehand.

Settings are read from the environment once, at start-up: what a check or a page makes
of them runs manage.py in a fresh process; what the settings module alone makes of them
evaluates it afresh in this one (`read_settings`), a start-up's result without its four
seconds."""

import re
import secrets
import subprocess
import sys
import traceback

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from tests.processes import ROOT, environ, production, read_settings


def manage(*args, **env_overrides) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environ(**env_overrides),
        capture_output=True,
        text=True,
        timeout=60,
    )


def refused_start_up(var_dir, **env_overrides) -> str:
    """The traceback a process started with these settings would print as it stops."""
    with pytest.raises(ImproperlyConfigured) as refused:
        read_settings(var_dir, **env_overrides)
    return "".join(traceback.format_exception(refused.value))


def test_deploy_check_passes_with_no_warning_in_production():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **production())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("hosts", "site_url"),
    [
        ({"DJANGO_ALLOWED_HOSTS": "grid.example.org,.example.org"}, "https://grid.example.org"),
        ({}, "https://localhost"),
    ],
    ids=["named hosts", "default hosts"],
)
def test_production_without_a_site_url_links_to_its_first_host_and_passes(
    hosts, site_url, tmp_path
):
    # SPEC §8 asks of production only the secret key; the links then lead to the site.
    env = {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": secrets.token_urlsafe(64), **hosts}
    result = manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert read_settings(tmp_path, **env)["SITE_URL"] == site_url


@pytest.mark.parametrize(
    "env",
    [{"SITE_URL": "http://example.org"}, {"DJANGO_ALLOWED_HOSTS": "*", "SITE_URL": None}],
    ids=["plain http", "any host, no site url"],
)
def test_email_links_over_plain_http_are_a_notice_not_a_warning(env):
    """SPEC §8: no warning in production. Links over plain HTTP reach the SSL redirect,
    the session cookie never leaves HTTPS: the check says so, as information."""
    result = manage("check", "--deploy", "--fail-level", "WARNING", **production(**env))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNINGS" not in result.stdout + result.stderr
    assert "governance.I008" in result.stdout + result.stderr


def test_production_without_a_secret_key_refuses_to_start():
    result = manage("check", "--deploy", **production(DJANGO_SECRET_KEY=""))
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize(
    ("site_url", "script_name", "static_url"),
    [
        ("https://gov.example/gz", "/gz", "/gz/static/"),
        ("https://gov.example/gz/", "/gz", "/gz/static/"),
        ("https://gov.example", None, "/static/"),
    ],
)
def test_a_path_in_the_site_url_is_the_path_the_site_is_served_under(
    site_url, script_name, static_url, tmp_path
):
    settings = read_settings(tmp_path, **production(SITE_URL=site_url))
    assert (settings["FORCE_SCRIPT_NAME"], settings["STATIC_URL"]) == (script_name, static_url)


def test_debug_mode_without_a_key_signs_with_one_of_its_own_kept_in_var(tmp_path):
    first, second = (read_settings(tmp_path, DJANGO_DEBUG="true") for _ in range(2))
    key = (tmp_path / "secret_key").read_text().strip()
    assert {first["SECRET_KEY"], second["SECRET_KEY"]} == {key} and len(key) >= 50
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    other = read_settings(tmp_path / "other", DJANGO_DEBUG="true")
    assert other["SECRET_KEY"] != key


def test_deploy_check_fails_when_email_links_point_at_a_host_we_do_not_serve():
    result = manage("check", "--deploy", **production(SITE_URL="https://elsewhere.example"))
    assert result.returncode != 0
    assert "governance.E007" in result.stderr


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"DJANGO_SECURE_SSL_REDIRECT": "false"}, "security.W008"),
        ({"AXES_ENABLED": "false"}, "governance.E005"),
    ],
)
def test_deploy_check_names_each_weakened_setting(overrides, code):
    result = manage("check", "--deploy", "--fail-level", "WARNING", **production(**overrides))
    assert result.returncode != 0
    assert code in result.stderr


@pytest.mark.parametrize(("conn_max_age", "expected"), [(None, 60), ("0", 0), ("300", 300)])
def test_database_connections_are_kept_across_requests_unless_configured(
    conn_max_age, expected, tmp_path
):
    """A new connection per request costs a PostgreSQL backend and a cold catalogue, more
    than a report's own work (bench/README.md): web processes keep theirs by default."""
    database = read_settings(tmp_path, DATABASE_CONN_MAX_AGE=conn_max_age)["DATABASES"]["default"]
    assert (database["CONN_MAX_AGE"], database["CONN_HEALTH_CHECKS"]) == (expected, True)


@pytest.mark.parametrize(
    ("url_options", "expected"),
    [("", "-c jit=off"), ("?options=-c%20work_mem%3D64MB", "-c jit=off -c work_mem=64MB")],
)
def test_postgresql_connections_ask_for_no_jit_compiling(url_options, expected, tmp_path):
    """Compiling a page's plan took longer than running it (0.4 s of a liaison's 0.78 s
    sorted admin list at 300,000 cases); options the URL gives are kept."""
    url = f"postgres://governance@db.example.org:5432/governance{url_options}"
    database = read_settings(tmp_path, DATABASE_URL=url)["DATABASES"]["default"]
    assert database["OPTIONS"]["options"] == expected


@pytest.mark.django_db
def test_the_tests_own_connection_compiles_no_plan():
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)


def test_the_default_broker_queues_from_a_fresh_checkout(tmp_path):
    """The file broker's folders are made at start-up: a sweep run by `manage.py` before
    `make run` ever did (or with a new VAR_DIR) can queue its emails."""
    var = tmp_path / "var"
    queue = "from governance.celery import app; app.send_task('cases.queue_sweep_messages', ('x',))"
    result = manage(
        "shell",
        "-c",
        queue,
        VAR_DIR=str(var),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_BROKER_URL=None,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list((var / "broker").glob("*.msg"))) == 1
    # The default broker is fully named: kombu's "No hostname was supplied" warning would
    # suggest a misconfiguration on every command that queues.
    assert "No hostname" not in result.stderr


# Two writers whose transactions read before they write, as a service that checks a case's
# state and then moves it does, starting together: each would hold a read lock when the
# other wants to write.
SQLITE_WRITERS = """
import threading, time
from django.db import connection, transaction
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE written (writer integer)")
connection.close()
both_ready = threading.Barrier(2)
failures = []
def writer(number):
    both_ready.wait(timeout=10)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM written")
            time.sleep(0.3)
            cursor.execute("INSERT INTO written VALUES (%s)", [number])
    except Exception as error:
        failures.append(repr(error))
    finally:
        connection.close()
threads = [threading.Thread(target=writer, args=(n,)) for n in (1, 2)]
for thread in threads: thread.start()
for thread in threads: thread.join()
with connection.cursor() as cursor:
    cursor.execute("SELECT count(*) FROM written")
    print(cursor.fetchone()[0], failures)
    cursor.execute("PRAGMA journal_mode")
    print(cursor.fetchone()[0])
"""


def test_the_demo_database_lets_concurrent_writers_wait_their_turn(tmp_path):
    """Web, worker and beat share the demo's SQLite file. A transaction that read before
    writing must wait for another writer, not fail with "database is locked" (SQLite
    refuses to upgrade a stale read lock however long the timeout); and pages keep
    reading while the worker writes (write-ahead log)."""
    result = manage(
        "shell",
        "-c",
        SQLITE_WRITERS,
        VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-2:] == ["2 []", "wal"]


EMAIL_SETTINGS = (
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_USE_TLS",
    "EMAIL_USE_SSL",
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "smtp+tls://relay:p%40ss@mail.example.org:587",
            "mail.example.org 587 relay p@ss True False",
        ),
        ("smtp+ssl://relay:pass@mail.example.org", "mail.example.org 465 relay pass False True"),
        ("smtps://relay:p%40ss@mail.example.org", "mail.example.org 465 relay p@ss False True"),
        ("smtps://relay:pass@mail.example.org:2465", "mail.example.org 2465 relay pass False True"),
        ("smtp://127.0.0.1:1025", "127.0.0.1 1025 None None False False"),
    ],
)
def test_email_urls_as_the_spec_writes_them(url, expected, tmp_path):
    settings = read_settings(tmp_path, EMAIL_URL=url)
    assert " ".join(str(settings[name]) for name in EMAIL_SETTINGS) == expected


def test_an_unknown_email_scheme_stops_start_up_without_showing_the_password(tmp_path):
    printed = refused_start_up(
        tmp_path, EMAIL_URL="smtps+starttls://relay:hunter2@mail.example.org"
    )
    assert "EMAIL_URL: unknown scheme 'smtps+starttls'" in printed
    assert "hunter2" not in printed


@pytest.mark.parametrize(
    ("seconds", "expires"), [("60", 54.0), ("300", 270.0), ("5", 4.5), ("1", 0.9)]
)
def test_a_sweep_waiting_longer_than_its_period_is_dropped(seconds, expires, tmp_path):
    """Not a fixed 55 s: with a sweep every 5 minutes, one that waited a minute still runs;
    with one every 5 seconds, the queue does not fill with sweeps that are due anyway."""
    schedule = read_settings(tmp_path, ESCALATION_SWEEP_SECONDS=seconds)["CELERY_BEAT_SCHEDULE"]
    assert schedule["escalate-overdue"]["options"]["expires"] == expires


def test_keys_replaced_by_a_rotation_are_read_from_the_environment(tmp_path):
    settings = read_settings(tmp_path, **production(DJANGO_SECRET_KEY_FALLBACKS="old-1,old-2"))
    assert settings["SECRET_KEY_FALLBACKS"] == ["old-1", "old-2"]


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("ESCALATION_SWEEP_SECONDS", "abc", "is not a number: expected a number greater than zero"),
        ("ESCALATION_SWEEP_SECONDS", "0", "must be greater than zero"),
        ("ESCALATION_SWEEP_SECONDS", "-60", "must be greater than zero"),
        ("ESCALATION_SWEEP_SECONDS", "1e-9", "expected at least 1 second between runs"),
        ("DASHBOARD_REFRESH_SECONDS", "0.5", "expected at least 1 second between runs"),
        ("DATABASE_CONN_MAX_AGE", "1m", "is not a whole number of at least 0"),
        ("DATABASE_CONN_MAX_AGE", "-1", "expected a whole number of at least 0"),
        ("EMAIL_TIMEOUT", "0", "must be greater than zero"),
        ("EMAIL_TIMEOUT", "ten", "is not a number"),
        ("OUTBOX_MAX_ATTEMPTS", "0", "expected a whole number of at least 1"),
        ("TRUSTED_PROXY_COUNT", "one", "is not a whole number of at least 0"),
    ],
)
def test_a_bad_number_in_the_environment_stops_start_up_naming_the_variable(
    name, raw, expected, tmp_path
):
    printed = refused_start_up(tmp_path, **{name: raw})
    assert f"{name}={raw!r}" in printed and expected in printed, printed
    assert "invalid literal" not in printed


@pytest.mark.parametrize("raw", ["Asia/Shanghai/", "Asia", "zone.tab", "Mars/Olympus"])
def test_a_time_zone_python_cannot_load_is_refused_naming_the_variable(raw):
    # A trailing slash, a region's folder or another file of the system's zoneinfo passed
    # Django's own check (it looks for a path under /usr/share/zoneinfo, and skips even that
    # where there is none), then every page and sweep that told a time failed.
    from django.core.exceptions import ImproperlyConfigured

    from governance.settings import parse_time_zone

    with pytest.raises(ImproperlyConfigured) as refused:
        parse_time_zone(raw)
    assert f"TIME_ZONE={raw!r}" in str(refused.value) and "Asia/Shanghai" in str(refused.value)


@pytest.mark.parametrize("raw", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_a_time_zone_of_the_zoneinfo_database_is_taken(raw):
    from governance.settings import parse_time_zone

    assert parse_time_zone(raw) == raw


def test_time_zone_is_checked_as_the_process_starts():
    refused = manage("check", TIME_ZONE="Asia/Shanghai/")
    assert refused.returncode != 0
    assert (
        "ImproperlyConfigured" in refused.stderr and "TIME_ZONE='Asia/Shanghai/'" in refused.stderr
    )
    show = "from django.utils import timezone; print(timezone.get_default_timezone_name())"
    taken = manage("shell", "-c", show, TIME_ZONE="America/New_York")
    assert taken.returncode == 0, taken.stderr
    assert taken.stdout.splitlines()[-1] == "America/New_York"


def test_the_email_timeout_may_be_a_decimal_number_of_seconds(tmp_path):
    assert read_settings(tmp_path, EMAIL_TIMEOUT="2.5")["EMAIL_TIMEOUT"] == 2.5


def django_settings(module: dict) -> dict:
    """A settings module's settings (Django reads the upper-case names), comparable."""
    return {name: repr(value) for name, value in module.items() if name.isupper()}


BLANKABLE_SETTINGS = [
    "TIME_ZONE",
    "LANGUAGE_CODE",
    "WORKING_HOURS",
    "EMAIL_URL",
    "CELERY_BROKER_URL",
    "SITE_URL",
    "DJANGO_ALLOWED_HOSTS",
    "DATABASE_URL",
    "DEFAULT_FROM_EMAIL",
    "MEDIA_ROOT",
    "CACHE_URL",
    "REDIS_URL",
    "MAP_TILE_URL",
]


@pytest.mark.parametrize("name", BLANKABLE_SETTINGS)
def test_a_blank_setting_in_the_environment_reads_as_unset(name, tmp_path):
    """SPEC §8 gives each of these a default; a `NAME=` line in an env file, or a compose
    file passing on a variable the host does not have, must get it, as a blank
    DJANGO_DEBUG or FALLBACK_DISPATCH_HOURS does (a blank TIME_ZONE broke every page, a
    blank CELERY_BROKER_URL asked for an AMQP server on localhost)."""
    unset = django_settings(read_settings(tmp_path, **{name: None}))
    blank = django_settings(read_settings(tmp_path, **{name: "  "}))
    assert blank == unset


def test_a_process_started_with_blank_settings_runs_on_the_defaults(tmp_path):
    blanks = dict.fromkeys(BLANKABLE_SETTINGS, "  ")
    show = "from django.conf import settings as s; print(s.TIME_ZONE, s.CELERY_BROKER_URL)"
    result = manage("shell", "-c", show, VAR_DIR=str(tmp_path), **blanks)
    assert result.returncode == 0, result.stderr
    defaults = read_settings(tmp_path, **dict.fromkeys(BLANKABLE_SETTINGS))
    assert result.stdout.splitlines()[-1] == (
        f"{defaults['TIME_ZONE']} {defaults['CELERY_BROKER_URL']}"
    )


def test_production_with_a_blank_secret_key_refuses_to_start(tmp_path):
    printed = refused_start_up(tmp_path, **production(DJANGO_SECRET_KEY="  "))
    assert "DJANGO_SECRET_KEY must be set" in printed


def login_page_language(page: str) -> str:
    return " ".join(
        (re.search(r'<html lang="([^"]+)"', page)[1], re.search(r"<title>(.*?)</title>", page)[1])
    )


SHOW_LOGIN_PAGE_LANGUAGE = (
    "from django.conf import settings; from django.test import Client; "
    "from tests.test_deploy_checks import login_page_language; "
    "page = Client(HTTP_HOST='localhost').get('/accounts/login/').content.decode(); "
    "print(settings.LANGUAGE_CODE, login_page_language(page))"
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("zh-hans", "zh-hans zh-hans 登录 · 网格化治理"),
        ("zh-CN", "zh-hans zh-hans 登录 · 网格化治理"),
        ("zh_Hans", "zh-hans zh-hans 登录 · 网格化治理"),
        ("en-US", "en en Sign in · Grid governance"),
    ],
)
def test_language_code_in_its_usual_spellings_sets_the_default_language(
    raw, expected, tmp_path, client, settings
):
    """SPEC §6/§8: LANGUAGE_CODE sets the default of the two languages the UI speaks."""
    settings.LANGUAGE_CODE = read_settings(tmp_path, LANGUAGE_CODE=raw)["LANGUAGE_CODE"]
    page = client.get("/accounts/login/").content.decode()
    assert f"{settings.LANGUAGE_CODE} {login_page_language(page)}" == expected


def test_a_process_started_with_a_regional_chinese_language_code_speaks_chinese(tmp_path):
    # zh-CN stopped every process ("No translation files found for default language").
    env = {"LANGUAGE_CODE": "zh-CN", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    assert manage("check", "--fail-level", "WARNING", **env).returncode == 0
    result = manage("shell", "-c", SHOW_LOGIN_PAGE_LANGUAGE, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "zh-hans zh-hans 登录 · 网格化治理"


def test_a_language_the_site_does_not_speak_stops_start_up(tmp_path):
    printed = refused_start_up(tmp_path, LANGUAGE_CODE="fr")
    assert "LANGUAGE_CODE='fr': the site speaks en (English) and zh-hans" in printed
