"""Settings for benchmarks only: the product's settings plus bench/urls.py, which adds the
bare reference views. Never used in production (gunicorn there serves governance.settings)."""

from governance.settings import *  # noqa: F403
from governance.settings import ALLOWED_HOSTS

ROOT_URLCONF = "bench.urls"
# The in-process page timings use Django's test client, which calls itself "testserver".
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]
# Plain HTTP on loopback: the probes and the load generator speak http://, also when a
# probe is run by hand without bench/harness.py's environment.
SECURE_SSL_REDIRECT = False
