"""Django's Redis cache, keeping one client per connection pool.

Django's own backend builds a new `redis.Redis` on every operation (a few hundred
microseconds of Python each time, paid by every signed-in request for its session). A
client holds no connection of its own and redis-py documents it as safe to share between
threads, so one per pool is enough."""

from django.core.cache.backends import redis as django_redis


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}  # id of a pool (they live as long as this object) -> client

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._class = RedisCacheClient
