"""Settings for the grid-governance project, driven by the environment (SPEC §8).

Every setting has an embedded default so that `make run` works on a machine with no
database or broker server; production overrides them through environment variables.
"""

import math
import os
import re
import secrets
from datetime import time, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import dj_database_url
import dj_email_url
from corsheaders.defaults import default_headers as default_cors_headers
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true or false).")


def env_str(name: str, default) -> str:
    raw = os.environ.get(name)
    # Set but blank (a `FOO=` line in an env file, a compose file passing on a variable
    # the host lacks) reads as unset, as env_bool does: every SPEC §8 default then holds.
    return str(default) if raw is None or raw.strip() == "" else raw.strip()


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


VAR_DIR = Path(env_str("VAR_DIR", BASE_DIR / "var"))


# HH:MM-HH:MM, also as people write it: 8:30, an en dash (09:00–17:00, as SPEC §4 prints
# it) or a tilde. No UTC offset: the hours are read in TIME_ZONE.
WORKING_HOURS_FORMAT = re.compile(r"(\d{1,2}):(\d{2})\s*[-–—~～]\s*(\d{1,2}):(\d{2})")
# Several periods of a day (a midday break, 午休): 08:30-12:00,14:00-17:30, also with the
# Chinese comma, enumeration comma or semicolon.
WORKING_PERIODS_SEPARATOR = re.compile(r"\s*[,，、;；]\s*")


def parse_working_hours(raw: str) -> tuple[time, time] | tuple[tuple[time, time], ...]:
    """Parse `HH:MM-HH:MM` into (start, end), or several such periods separated by commas
    into a tuple of them, in order and not overlapping; a value that does not parse stops
    start-up. departments.calendar.working_periods reads both shapes."""
    periods = []
    for part in WORKING_PERIODS_SEPARATOR.split(raw.strip()):
        match = WORKING_HOURS_FORMAT.fullmatch(part)
        try:
            if match is None:
                raise ValueError(raw)
            start_hour, start_minute, end_hour, end_minute = map(int, match.groups())
            start, end = time(start_hour, start_minute), time(end_hour, end_minute)
        except ValueError as error:
            raise ImproperlyConfigured(
                f"WORKING_HOURS={raw!r} does not parse: expected HH:MM-HH:MM, e.g. 09:00-17:00, "
                "or periods separated by commas, e.g. 08:30-12:00,14:00-17:30, "
                "in TIME_ZONE (no UTC offset)."
            ) from error
        if start >= end:
            raise ImproperlyConfigured(f"WORKING_HOURS={raw!r}: the start must be before the end.")
        if periods and start < periods[-1][1]:
            raise ImproperlyConfigured(
                f"WORKING_HOURS={raw!r}: the periods must be in order and must not overlap."
            )
        periods.append((start, end))
    # One period keeps the (start, end) shape the setting has always had.
    return periods[0] if len(periods) == 1 else tuple(periods)


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    """A whole number from the environment; anything else stops start-up naming the
    variable, its value and what is expected (not a bare "invalid literal for int()")."""
    raw = env_str(name, default)
    expected = f"a whole number of at least {minimum}" if minimum is not None else "a whole number"
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not {expected} (the default is {default})."
        ) from None  # int()'s own "invalid literal" would only repeat it, unnamed
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(
            f"{name}={raw!r}: expected {expected} (the default is {default})."
        )
    return value


def env_positive_float(name: str, default) -> float:
    """A number greater than zero from the environment (decimals allowed), or start-up
    stops naming the variable, its value and what is expected."""
    raw = env_str(name, default)
    expected = f"expected a number greater than zero (the default is {default})"
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number: {expected}.") from None
    # float() also reads "nan" and "inf": no clock can be counted with either.
    if not math.isfinite(value):
        raise ImproperlyConfigured(f"{name}={raw!r} is not a finite number: {expected}.")
    if value <= 0:
        raise ImproperlyConfigured(f"{name}={raw!r} must be greater than zero: {expected}.")
    return value


def env_beat_period(name: str, default) -> float:
    """How often beat runs a task, in seconds (decimals allowed), at least one: 1e-9 passed
    "greater than zero" and had beat queue the task back to back, each run hitting the
    database."""
    value = env_positive_float(name, default)
    if value < 1:
        raise ImproperlyConfigured(
            f"{name}={env_str(name, default)!r}: expected at least 1 second between runs "
            f"(the default is {default})."
        )
    return value


# A limit in working hours, as a category's accept limit allows it (`Category.accept_hours`,
# two decimals, seven digits): under 0.01 h (a second or less) no deadline can be counted,
# and beyond 99999.99 h none can be placed on a date.
HOURS_LIMIT_MIN, HOURS_LIMIT_MAX = 0.01, 99999.99


def env_hours_limit(name: str, default) -> float:
    """A limit in working hours from the environment (decimals allowed) within a category's
    bounds, or start-up stops naming the variable: 0.0001 or 1e300 passed "greater than
    zero", then failed every report into the fallback pool instead."""
    value = env_positive_float(name, default)
    if not HOURS_LIMIT_MIN <= value <= HOURS_LIMIT_MAX:
        raise ImproperlyConfigured(
            f"{name}={env_str(name, default)!r}: expected a number of working hours between "
            f"{HOURS_LIMIT_MIN} and {HOURS_LIMIT_MAX}, as a category's accept limit "
            f"(the default is {default})."
        )
    return value


DEBUG = env_bool("DJANGO_DEBUG", True)


def development_secret_key(path: Path) -> str:
    """A key of this installation's own, kept in VAR_DIR, for debug mode: signed links and
    sessions of a demo left reachable are not forgeable with a key printed in the source.
    The web, worker and beat processes share it; the first to start writes it."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f"{path.name}.{os.getpid()}")
    with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        file.write(secrets.token_urlsafe(50))
    try:
        os.link(draft, path)  # atomic, and refused when another process was first
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text(encoding="ascii").strip()


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY.strip():
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = development_secret_key(VAR_DIR / "secret_key")
# Keys replaced by a rotation, comma-separated: sessions and signed links made with them
# stay good until they expire (acknowledge and extension decision links 14 days,
# invitations 7, password reset links PASSWORD_RESET_TIMEOUT).
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS", "")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")


def default_site_url(debug: bool, allowed_hosts: list[str]) -> str:
    """Where email links lead when SITE_URL is not set: the development server; in
    production, the first host the site answers to, over HTTPS (the SSL redirect is on),
    so that a deployment naming only its host still has links that reach it."""
    named = [host.lstrip(".") for host in allowed_hosts if host not in ("*", ".")]
    if debug or not named:
        return "http://127.0.0.1:8000"
    return f"https://{named[0]}"


SITE_URL = env_str("SITE_URL", default_site_url(DEBUG, ALLOWED_HOSTS)).rstrip("/")
# A site served under a path (https://gov.example/gz, its proxy passing on what follows)
# has it in SITE_URL: Django writes it before every path it makes from start-up, in pages,
# emails and the static files' URL alike.
FORCE_SCRIPT_NAME = urlsplit(SITE_URL).path or None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_fsm",
    "corsheaders",
    "governance.apps.AxesConfig",  # django-axes, under a translated name
    "governance",
    "departments",
    "cases",
]

MIDDLEWARE = [
    "governance.security.health_probe",
    "governance.security.request_size_limit",
    # Before anything that answers on its own, so that those answers carry CORS headers too.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into a 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "governance.urls"
WSGI_APPLICATION = "governance.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cases.context_processors.menu",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        # Kept across requests: a new connection costs a PostgreSQL backend and a cold
        # catalogue on every request, more than a report's own work (bench/README.md).
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the demo file. A transaction takes the write lock as it
    # begins and waits for it (timeout): SQLite would refuse at once to upgrade a read lock
    # another writer made stale. The write-ahead log lets pages read while others write.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20,
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    )
    # SQLite cannot build a unique constraint over NULLs (the dashboard roll-up's key) or
    # an index with included columns (the pool's): the demo does without; PostgreSQL has them.
    SILENCED_SYSTEM_CHECKS = ["models.W040", "models.W047"]
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT compiling: it starts above a plan's estimated cost, which a page's scan of
    # a department's cases passes, and compiling took longer than the query (a liaison's
    # admin list sorted by category at 300,000 cases: 0.4 s of 0.78 s; 0.27 s without).
    connection_options = DATABASES["default"].setdefault("OPTIONS", {})
    connection_options["options"] = f"-c jit=off {connection_options.get('options', '')}".strip()

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "departments.User"
# Permissions follow the user's role: the second backend grants each role's
# (departments.services.ROLE_PERMISSIONS) whatever groups the user is in.
# The first backend refuses sign-ins while a client is locked out (django-axes).
AUTHENTICATION_BACKENDS = [
    "governance.security.ThrottledLoginBackend",
    "departments.backends.RoleModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "departments.passwords.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "cases:list"
LOGOUT_REDIRECT_URL = "login"


def parse_language_code(raw: str) -> str:
    """LANGUAGE_CODE as one of the two languages the UI speaks (SPEC §6). Django serves
    only the exact codes of LANGUAGES as the default: zh-CN stopped every process with
    "No translation files found", zh_Hans failed `check`, and fr served English pages
    marked lang="fr". Chinese in any spelling is the Simplified catalogue, as the users' email
    language reads it (departments.models.user_language)."""
    code = raw.lower().replace("_", "-")
    if code == "en" or code.startswith("en-"):
        return "en"
    if code == "zh" or code.startswith("zh-"):
        return "zh-hans"
    raise ImproperlyConfigured(
        f"LANGUAGE_CODE={raw!r}: the site speaks en (English) and zh-hans (Simplified Chinese)."
    )


LANGUAGE_CODE = parse_language_code(env_str("LANGUAGE_CODE", "en"))
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["governance.formats"]


def parse_time_zone(raw: str) -> str:
    """TIME_ZONE as a key of the zoneinfo database, which every time told is read in.
    Django's own check only looks for a path under /usr/share/zoneinfo (and skips even
    that where there is none): "Asia/Shanghai/", "Asia" or "zone.tab" passed it, then every
    page and sweep that told a time failed."""
    try:
        ZoneInfo(raw)
    # ZoneInfoNotFoundError is a KeyError; a folder, a path or another file a ValueError.
    except (KeyError, ValueError, OSError) as error:
        raise ImproperlyConfigured(
            f"TIME_ZONE={raw!r} is no time zone of the zoneinfo database: expected a name "
            "such as Asia/Shanghai (the default) or UTC."
        ) from error
    return raw


TIME_ZONE = parse_time_zone(env_str("TIME_ZONE", "Asia/Shanghai"))
USE_I18N = True
USE_TZ = True

# With the site's path in it: Django adds a request's SCRIPT_NAME to a relative one only
# once, when the first page or middleware builds the static files' storage, and a web
# process builds it before its first request.
STATIC_URL = f"{FORCE_SCRIPT_NAME or ''}/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# The most files one report may attach, 10 of 10 MB (MAX_UPLOADS in cases/services/photo_checks.py,
# copies and pictures beyond the five kept included), and the form around them: such a
# report must reach the photo rule, which says what to leave out, not a bare 413.
REQUEST_MAX_BYTES = 101 * 2**20
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", VAR_DIR / "media"))

# --- Cache: shared between processes when CACHE_URL (or REDIS_URL) names a Redis server,
# which the Open311 per-key rate limit needs with several web processes ---
CACHE_URL = env_str("CACHE_URL", "") or env_str("REDIS_URL", "")
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "governance.cache.RedisCache", "LOCATION": CACHE_URL}}
    # Each request reads its session from the shared cache, not with a database query;
    # writes still go to the database, so a restarted Redis signs nobody out.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Open311 GeoReport v2 (SPEC §7): jurisdiction ids this endpoint answers to; empty
# means jurisdiction_id is accepted and ignored (one jurisdiction per endpoint) ---
OPEN311_JURISDICTION_IDS = env_list("OPEN311_JURISDICTION_IDS", "")
# Browser clients on other sites (a citizen app's map, a FixMyStreet-style page) may call
# the API; it reads no cookie (a POST carries its api_key), so no credentials are allowed,
# and the rest of the site sends no CORS header at all.
CORS_URLS_REGEX = r"^/open311/"
CORS_ALLOW_ALL_ORIGINS = True
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_METHODS = ("GET", "HEAD", "OPTIONS", "POST")
# A post may carry an Idempotency-Key header (sent again, it finds its first case), and
# the answer's own headers say where the request is, that it was a replay, or when to retry.
CORS_ALLOW_HEADERS = (*default_cors_headers, "idempotency-key")
CORS_EXPOSE_HEADERS = ("Location", "Idempotent-Replayed", "Retry-After")

# --- Working time and deadlines (SPEC §4) ---
WORKING_HOURS = parse_working_hours(env_str("WORKING_HOURS", "09:00-17:00"))
FALLBACK_DISPATCH_HOURS = env_hours_limit("FALLBACK_DISPATCH_HOURS", 4)


# --- Email ---
def parse_email_url(raw: str) -> dict:
    """EMAIL_URL as SPEC §8 writes it: `smtp://`, `smtp+tls://` (STARTTLS, as on port 587),
    `smtp+ssl://` or `smtps://` (TLS from the start, port 465 unless given), `console:`;
    dj-email-url reads the rest, and spells the secure ones `submission://` and `?ssl=true`
    (its own `smtps://` is STARTTLS on port 25, which a port 465 server never answers)."""
    scheme, _sep, rest = raw.partition("://")
    if scheme == "smtps":
        scheme = "smtp+ssl"
    if scheme == "smtp+tls":
        raw = f"submission://{rest}"
    elif scheme == "smtp+ssl":
        raw = f"smtp://{rest}{'&' if '?' in rest else '?'}ssl=true"
    parsed = dj_email_url.parse(raw)
    if "EMAIL_BACKEND" not in parsed:  # the scheme only: the URL may hold a password
        raise ImproperlyConfigured(
            f"EMAIL_URL: unknown scheme {scheme.split(':')[0]!r}; "
            "use smtp://, smtp+tls://, smtp+ssl:// (or smtps://) or console:"
        )
    if scheme == "smtp+ssl" and urlsplit(raw).port is None:
        parsed["EMAIL_PORT"] = 465
    return parsed


_email = parse_email_url(env_str("EMAIL_URL", "console:"))
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email["EMAIL_HOST"]
EMAIL_PORT = _email["EMAIL_PORT"]
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"]
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"]
EMAIL_USE_TLS = _email["EMAIL_USE_TLS"]
EMAIL_USE_SSL = _email["EMAIL_USE_SSL"]
# Seconds, decimals allowed (Django passes it to the socket as it is).
EMAIL_TIMEOUT = env_positive_float("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "grid-governance@localhost")
# The Date header in TIME_ZONE's offset (+0800 by default), as the email's deadlines are;
# Django's default writes UTC as "-0000", which RFC 5322 reads as "local zone unknown".
EMAIL_USE_LOCALTIME = True

# --- Celery (SPEC §8): the default broker keeps its queue in files, so it needs no server ---
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "broker"
    # kombu does not make its folders: without them a sweep run by `manage.py
    # escalate_overdue` on a fresh checkout could not queue its emails (they waited for
    # the next sweeps to re-queue them).
    for _folder in ("processed", "control"):
        (_queue_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_queue_dir / "processed"),
        # Otherwise kombu writes its control exchange into the working directory.
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than any task's time limit, so a slow task is not handed to a second worker.
        "visibility_timeout": 3600,
        # A Redis that accepts connections and never answers (hung, or cut off by a network
        # partition) fails a publish in seconds: without a timeout a web request queuing
        # its emails after its commit waited until gunicorn killed it (a 500 for a change
        # that was saved), and a worker's sweep until its time limit. The rows stay pending
        # and the sweep re-queues them.
        "socket_connect_timeout": 5,
        "socket_timeout": 5,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Two queues: email delivery on `mail`, the sweep and the housekeeping on `celery`. A
# backlog of emails (a big sweep, a mail server back from an outage) then waits in its own
# queue, and a worker serves the two in turn, so the next sweeps neither wait behind it
# nor expire unstarted. A worker started without -Q (the Procfile's) consumes every queue
# declared here; with workers started with -Q, one must name `mail`, or no email goes out.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = [Queue(name, Exchange(name), routing_key=name) for name in ("celery", "mail")]
CELERY_TASK_ROUTES = {
    # Every task that sends emails or queues their delivery (cases/services/outbox/).
    task: {"queue": "mail"}
    for task in (
        "cases.queue_sweep_messages",
        "cases.deliver_outbox_messages",
        "cases.send_outbox_message",
    )
}
# Beat's record of when each periodic task last ran (run exactly one beat).
CELERY_BEAT_SCHEDULER = "governance.celery:Scheduler"
CELERY_BEAT_SCHEDULE_FILENAME = env_str(
    "CELERY_BEAT_SCHEDULE_FILE", str(VAR_DIR / "celerybeat-schedule")
)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
# Workers and beat log through LOGGING below, whose filter masks phone numbers: Celery's
# own root handler would log a refused 13812345678@139.com as it is.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# What a task prints (the console email backend's emails, make run's default) is logged at
# INFO, not Celery's default WARNING, which reads as a problem on every demo email.
CELERY_WORKER_REDIRECT_STDOUTS_LEVEL = "INFO"
_SWEEP_SECONDS = env_beat_period("ESCALATION_SWEEP_SECONDS", 60)
CELERY_BEAT_SCHEDULE: dict = {
    # The escalation sweep (cases/services/escalation.py); a sweep that waited longer than
    # its period is dropped, the next one does its work.
    "escalate-overdue": {
        "task": "cases.escalate_overdue",
        "schedule": _SWEEP_SECONDS,
        "options": {"expires": _SWEEP_SECONDS * 0.9},
    },
}
# The dashboard's daily roll-up (cases/services/figures.py): the page brings it up to date
# itself, and finds little left to do when this ran recently.
_FIGURES_SECONDS = env_beat_period("DASHBOARD_REFRESH_SECONDS", 60)
CELERY_BEAT_SCHEDULE["refresh-figures"] = {
    "task": "cases.refresh_figures",
    "schedule": _FIGURES_SECONDS,
    "options": {"expires": _FIGURES_SECONDS * 0.9},
}
# The email outbox (cases/services/outbox/sending.py): retries back off from 30 s to 15 min.
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 20, minimum=1)
OUTBOX_RETRY_BASE_SECONDS = env_int("OUTBOX_RETRY_BASE_SECONDS", 30, minimum=1)
OUTBOX_RETRY_MAX_SECONDS = env_int("OUTBOX_RETRY_MAX_SECONDS", 900, minimum=1)
OUTBOX_REQUEUE_AFTER_SECONDS = env_int("OUTBOX_REQUEUE_AFTER_SECONDS", 300, minimum=1)

# --- Security: production flags follow DEBUG so that `check --deploy` is clean ---
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
# A load balancer probes over plain HTTP behind the TLS proxy: a redirect is no answer.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = 0 if DEBUG else 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = not DEBUG
LANGUAGE_COOKIE_SAMESITE = "Lax"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Proxies in front of the web processes that append to X-Forwarded-For: the client's
# address is that many hops from the right (0: use the socket's address).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

# --- Login throttling (django-axes): 5 failures from one address for one username lock
# that pair out for 15 minutes, on /accounts/login/ and the admin alike; the 429 page says
# how long to wait, in the site's frame and language ---
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "governance.security.client_ip"
AXES_VERBOSE = False

# --- Content-Security-Policy (django-csp 4): everything from our own origin, no inline
# script or style; map tiles only from the configured tile server ---
MAP_TILE_URL = env_str("MAP_TILE_URL", "")
# Leaflet's `{s}` subdomain placeholder becomes a CSP wildcard.
_tile_url = urlsplit(MAP_TILE_URL.replace("{s}", "SUBDOMAIN"))
_tile_origin = f"{_tile_url.scheme}://{_tile_url.netloc}".replace("SUBDOMAIN", "*")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"] + ([_tile_origin] if MAP_TILE_URL else []),
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Personal data: reporters' names and phones (and the contact an Open311 client posted)
# are blanked this long after a case is closed or cancelled (python manage.py
# anonymise_reporters, run daily by beat) ---
REPORTER_RETENTION_DAYS = env_int("REPORTER_RETENTION_DAYS", 365, minimum=0)
CELERY_BEAT_SCHEDULE["anonymise-reporters"] = {
    "task": "cases.anonymise_reporters",
    "schedule": 86400.0,
    "options": {"expires": 3600},
}
# A report sent twice within this many days creates one case (idempotency keys of the
# web form and Open311); older keys are deleted daily by beat.
IDEMPOTENCY_KEY_DAYS = env_int("IDEMPOTENCY_KEY_DAYS", 7, minimum=1)
CELERY_BEAT_SCHEDULE["purge-idempotency-keys"] = {
    "task": "cases.purge_idempotency_keys",
    "schedule": 86400.0,
    "options": {"expires": 3600},
}
# Photos of a report stopped at the duplicate screen are kept this long for it; the
# beat deletes older ones hourly.
HELD_PHOTO_HOURS = env_int("HELD_PHOTO_HOURS", 24, minimum=1)
CELERY_BEAT_SCHEDULE["purge-held-photos"] = {
    "task": "cases.purge_held_photos",
    "schedule": 3600.0,
    "options": {"expires": 600},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # Phone numbers and signed links' tokens never reach a log line, whoever logs them
    # (tokens first: the phone mask would star a token's digits). gunicorn's access log
    # masks tokens too (governance/gunicorn_logging.py, named in the Procfile).
    "filters": {
        "mask_signed_links": {"()": "cases.signed_links.MaskSignedLinkTokens"},
        "mask_phones": {"()": "cases.privacy.MaskPhoneNumbers"},
        "refusals_without_traceback": {"()": "governance.log_filters.RefusalsWithoutTraceback"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["mask_signed_links", "mask_phones", "refusals_without_traceback"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Django's own console handler (debug mode) printed its records a second time,
        # unmasked: they go through the root's handler alone. No ADMINS are mailed.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        # runserver's request lines carry the links' paths.
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
