"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives and refuses
chosen recipients for good (550), for tests whose subject is mail."""

import email
from email import policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.processes import free_port


class Inbox:
    def __init__(self):
        self.received: list[tuple[list[str], email.message.EmailMessage]] = []
        self.raw: list[bytes] = []  # each message's bytes as the server took them
        self.reject: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.raw.append(envelope.original_content or envelope.content)
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        return [message for _rcpts, message in self.received]

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [message for rcpts, message in self.received if address in rcpts]


class SmtpServer:
    """The server on a fixed port, which a test may stop and start again (a mail server
    down for a while), with the same or another `inbox`; with `password`, it signs in only
    a client that gives it (AUTH, over plain loopback)."""

    def __init__(self, password: str = ""):
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = None
        self.password = password

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        # Not handled: aiosmtpd answers 235, or 535 for a wrong password.
        return AuthResult(success=auth_data.password.decode() == self.password, handled=False)

    def start(self):
        auth = {"authenticator": self.authenticate, "auth_require_tls": False}
        self.controller = Controller(
            self.inbox, hostname="127.0.0.1", port=self.port, **(auth if self.password else {})
        )
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def running_smtp_server(settings):
    """Start a server and point Django's mail at it; yields the server (a fixture body)."""
    server = SmtpServer()
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    try:
        yield server
    finally:
        server.stop()


def smtp_server(settings):
    """As `running_smtp_server`, yielding only its inbox."""
    for server in running_smtp_server(settings):
        yield server.inbox


def hung_smtp_server(settings, timeout: float = 1):
    """A mail server that accepts connections and never answers (a fixture body): the
    listening socket is never read, so the kernel completes each handshake and the
    greeting never comes. Django's mail waits EMAIL_TIMEOUT (`timeout`) on each try."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", silent.getsockname()[1]
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_TIMEOUT = timeout
        yield silent
