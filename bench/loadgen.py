"""A small load generator for loopback only: `concurrency` threads POST the same request
over and over for `seconds` (and at most `max_requests`), and count the answers. Fields
named in `fresh` get a new UUID in every request, as a form's one-time key does.

Gunicorn's sync workers close the connection after each response, so every request
opens a new loopback connection, as a browser talking to such a server would.
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlencode

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class LoadResult:
    seconds: float
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0

    def count(self, *statuses: int) -> int:
        return sum(n for status, n in self.statuses.items() if status in statuses)

    def per_second(self, *statuses: int) -> float:
        return self.count(*statuses) / self.seconds if self.seconds else 0.0

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else 0.0


def post_load(
    *,
    host: str,
    port: int,
    path: str,
    form: dict,
    headers: dict | None = None,
    concurrency: int = 16,
    seconds: float = 15.0,
    max_requests: int = 100_000,
    timeout: float = 30.0,
    fresh: tuple[str, ...] = (),
) -> LoadResult:
    if host not in LOOPBACK:
        raise ValueError("The load generator only targets this machine (loopback).")
    body = urlencode(form).encode()

    def body_to_send() -> bytes:
        if not fresh:
            return body
        return urlencode({**form, **{name: str(uuid.uuid4()) for name in fresh}}).encode()

    all_headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Connection": "close",
        **(headers or {}),
    }
    lock = threading.Lock()
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    errors = 0
    sent = 0
    deadline = time.monotonic() + seconds

    def worker():
        nonlocal errors, sent
        while time.monotonic() < deadline:
            with lock:
                if sent >= max_requests:
                    return
                sent += 1
            started = time.perf_counter()
            try:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
                conn.request("POST", path, body=body_to_send(), headers=all_headers)
                response = conn.getresponse()
                response.read()
                conn.close()
            except (OSError, http.client.HTTPException):
                with lock:
                    errors += 1
                continue
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                statuses[response.status] = statuses.get(response.status, 0) + 1
                latencies.append(elapsed)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + timeout + 5)
    return LoadResult(
        seconds=time.monotonic() - started,
        statuses=statuses,
        latencies_ms=latencies,
        errors=errors,
    )


def login(*, host: str, port: int, username: str, password: str) -> dict:
    """Sign in through /accounts/login/ and return the headers a signed-in form POST
    carries (session and CSRF cookies, the CSRF header)."""
    if host not in LOOPBACK:
        raise ValueError("The load generator only targets this machine (loopback).")

    def cookies_of(response) -> dict:
        jar = {}
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                jar[name.strip()] = rest.split(";", 1)[0]
        return jar

    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", "/accounts/login/")
    response = conn.getresponse()
    response.read()
    jar = cookies_of(response)
    conn.close()
    csrf = jar["csrftoken"]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request(
        "POST",
        "/accounts/login/",
        body=urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": csrf}
        ).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf}",
        },
    )
    response = conn.getresponse()
    response.read()
    jar.update(cookies_of(response))
    conn.close()
    if response.status != 302 or "sessionid" not in jar:
        raise RuntimeError(f"Could not sign in as {username} (HTTP {response.status}).")
    return {
        "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items()),
        "X-CSRFToken": jar.get("csrftoken", csrf),
    }
