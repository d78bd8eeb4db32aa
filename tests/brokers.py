"""Pointing this test process's Celery app at another broker, as CELERY_BROKER_URL would;
and a broker that hangs."""

import socket
import threading
from contextlib import contextmanager

import kombu.pools
from kombu import Exchange, Queue

from governance.celery import app as celery_app


def forget_broker_connections():
    # Celery's pools live in kombu's registry, keyed by broker URL: closing one and leaving
    # it there hands the next test "Acquire on closed pool" for the same URL. Close and
    # forget them all.
    kombu.pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextmanager
def celery_broker(url: str):
    """Publish to `url` inside the block; pooled connections to the old broker are dropped
    on the way in and out, so nothing keeps talking to the wrong one."""
    previous = celery_app.conf.broker_url
    forget_broker_connections()
    celery_app.conf.broker_url = url
    try:
        yield
    finally:
        forget_broker_connections()
        celery_app.conf.broker_url = previous


def private_queues(suffix: str) -> dict:
    """The app's queues and routes (settings.CELERY_TASK_*) with every queue renamed
    `<name>-<suffix>`, as settings for `celery_app.conf.update`: a test's tasks and worker
    then keep to queues of their own on a shared Redis, routed as in production."""
    conf = celery_app.conf
    queues = conf.task_queues or [Queue(conf.task_default_queue)]
    names = {queue.name: f"{queue.name}-{suffix}" for queue in queues}
    return {
        "task_default_queue": names[conf.task_default_queue],
        "task_queues": [Queue(name, Exchange(name), routing_key=name) for name in names.values()],
        "task_routes": {
            task: {**route, "queue": names[route["queue"]]}
            for task, route in (conf.task_routes or {}).items()
        },
    }


class HungBroker:
    """A TCP server that accepts connections and never answers: a Redis that hangs."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        self.held = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _addr = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)

    def close(self):
        self.server.close()
        for conn in self.held:
            conn.close()
