"""A mail server that refuses our sign-in (SMTP 535, a password changed on one side only):
our configuration, not the recipient's, so the outbox retries instead of failing the
message for good, and the email goes out once the password is mended."""

import pytest

from cases.models import OutboxMessage
from cases.services.outbox.enqueue import build_message
from cases.services.outbox.sending import deliver
from tests.smtp import SmtpServer


@pytest.fixture
def guarded_server(settings):
    server = SmtpServer(password="the-right-one")
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "grid", "a-stale-one"
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    yield server
    server.stop()


@pytest.mark.django_db
def test_a_refused_sign_in_is_retried_and_the_email_goes_out_once_it_is_mended(
    guarded_server, settings
):
    message = build_message(
        to="cg-boss@example.org", subject="逾期", text="案件已逾期", kind="test", dedupe_key="t:1"
    )
    message.save()

    assert deliver(message_pk=message.pk).outcome == "retry"
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.PENDING and "535" in message.last_error
    assert guarded_server.inbox.received == []

    settings.EMAIL_HOST_PASSWORD = "the-right-one"
    assert deliver(message_pk=message.pk, now=message.next_attempt_at).outcome == "sent"
    assert [m["Subject"] for m in guarded_server.inbox.messages] == ["逾期"]
