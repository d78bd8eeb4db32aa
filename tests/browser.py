"""Debian's headless Chromium, driven by Playwright, for the tests of what a person clicks.

Never `playwright install`: the browser is the system's (`.ci/run` installs the package).
"""

import os
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connections

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling out, which this closed
# network refuses; /dev/shm is small in containers.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"
)

# Playwright's sync API runs an event loop in this thread; Django's ORM refuses to run in
# a thread with a running loop unless told it is safe (it is: the loop is idle meanwhile).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@contextmanager
def chromium():
    """A headless Chromium for the duration of the block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            # ORM calls made while Playwright's loop runs get a connection of their own:
            # close it, or it keeps the test database open after the run.
            connections.close_all()
            browser.close()


TAP = 44  # px: the height a finger needs (Apple's and WCAG 2.5.5's target size)


def boxes(page, selector):
    """[text or name, width, height] of each visible element `selector` finds."""
    return page.locator(selector).evaluate_all(
        "els => els.filter(e => e.offsetParent !== null).map(e => {"
        " const r = e.getBoundingClientRect();"
        " return [e.textContent.trim() || e.name, Math.round(r.width), Math.round(r.height)]; })"
    )


def sign_in(context, live_server, user) -> None:
    """Sign `user` in within a browser context: their session, made by Django's test
    client, as the context's cookie (no sign-in page loaded)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
