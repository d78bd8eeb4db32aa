import logging
import sys

from django.urls import reverse

from tests.logs import configured_console


def test_a_refusal_is_logged_in_one_line_without_a_traceback(client, cast, caplog):
    client.force_login(cast.liaison)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get(reverse("dashboard")).status_code == 403
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    handler, buffer = configured_console()
    handler.handle(record)
    written = buffer.getvalue()
    assert "WARNING django.request: Forbidden (Permission denied): /dashboard/" in written
    assert "Traceback" not in written and written.count("\n") == 1


def test_an_error_is_logged_with_its_traceback():
    record = logging.getLogger("tests").makeRecord(
        "tests", logging.ERROR, __file__, 1, "failed", (), None
    )
    try:
        raise ValueError("the fault")
    except ValueError:
        record.exc_info = sys.exc_info()
    handler, buffer = configured_console()
    handler.handle(record)
    assert "Traceback" in buffer.getvalue() and "ValueError: the fault" in buffer.getvalue()
