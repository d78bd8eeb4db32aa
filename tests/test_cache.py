"""The shared cache (sessions, Open311 rate limits) on the real Redis, through our backend
that keeps one client per connection pool instead of building one per operation."""

import threading

from tests.cases.open311support import redis_cache_fixture  # noqa: F401  (fixture)


def test_the_cache_keeps_its_redis_client_between_operations(redis_cache):
    client = redis_cache._cache.get_client(write=True)

    redis_cache.set("greeting", "你好", 30)

    assert redis_cache.get("greeting") == "你好"
    assert redis_cache._cache.get_client() is client
    assert redis_cache._cache.get_client(write=True) is client


def test_threads_share_the_client_without_losing_a_count(redis_cache):
    redis_cache.set("hits", 0, 30)
    threads, per_thread = 8, 50

    def hit():
        for _ in range(per_thread):
            redis_cache.incr("hits")

    workers = [threading.Thread(target=hit) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)

    assert redis_cache.get("hits") == threads * per_thread


def test_a_redis_cache_url_selects_this_backend_and_the_cached_sessions():
    from tests.test_deploy_checks import manage

    result = manage(
        "shell",
        "-c",
        "from django.conf import settings as s; "
        "print(s.CACHES['default']['BACKEND'], s.SESSION_ENGINE)",
        CACHE_URL="redis://127.0.0.1:6379/2",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == [
        "governance.cache.RedisCache",
        "django.contrib.sessions.backends.cached_db",
    ]
