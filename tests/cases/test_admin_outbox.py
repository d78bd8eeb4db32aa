"""The email outbox in the admin: administrators see every message, nobody else sees the
page at all, the list costs the same few queries however long it is, and "Send again" puts
failed messages back through the one delivery path, to a real SMTP server."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases import tasks
from cases.models import OutboxMessage
from cases.services import workflow
from cases.services.escalation import escalation_sweep
from cases.services.outbox.enqueue import build_message
from cases.services.outbox.sending import deliver
from departments.models import User
from departments.services import sync_role_groups
from tests.smtp import smtp_server

pytestmark = pytest.mark.django_db

Status = OutboxMessage.Status
SHANGHAI = ZoneInfo("Asia/Shanghai")
CHANGELIST = "admin:cases_outboxmessage_changelist"
NOT_ADMINISTRATORS = [
    "caseworker",
    "dispatcher",
    "liaison",
    "other_liaison",
    "supervisor",
    "district_supervisor",
]


@pytest.fixture
def staff(cast):
    """The cast with the staff flag their roles give them (supervisors work in the admin)."""
    sync_role_groups(users=[getattr(cast, name) for name in [*NOT_ADMINISTRATORS, "admin"]])
    return cast


@pytest.fixture
def keeper(world):
    """An administrator by role alone, not a superuser: the role's permissions must do."""
    user = User.objects.create_user(
        username="keeper",
        password="pass-for-tests-1",
        email="keeper@example.org",
        role=User.Role.ADMIN,
    )
    sync_role_groups(users=[user])
    return user


@pytest.fixture
def smtp(settings):
    yield from smtp_server(settings)


def make_messages(cases, *, status=Status.FAILED, prefix="m"):
    """One outbox row per case, stored as `status` (failed: after 20 refused attempts)."""
    rows = []
    for i, case in enumerate(cases):
        row = build_message(
            to=f"{prefix}{i}@example.org",
            subject=f"Case {case.number}",
            text="body",
            kind="extension",
            dedupe_key=f"test:{prefix}:{i}",
            case=case,
        )
        row.status = status
        if status == Status.FAILED:
            row.attempts = 20
            row.last_error = "SMTPServerDisconnected: Connection unexpectedly closed"
        rows.append(row)
    return OutboxMessage.objects.bulk_create(rows)


def messages_of(response):
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def send_again(client, messages):
    return client.post(
        reverse(CHANGELIST),
        {"action": "send_again", helpers.ACTION_CHECKBOX_NAME: [m.pk for m in messages]},
    )


# -- who sees it ---------------------------------------------------------------------------


def test_an_administrator_by_role_sees_the_outbox_and_case_numbers_link_to_the_case(
    client, keeper, report
):
    case = report()
    [message] = make_messages([case])
    client.force_login(keeper)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [message]
    assert reverse("admin:cases_case_change", args=[case.pk]) in response.text
    assert "m0@example.org" in response.text
    detail = client.get(reverse("admin:cases_outboxmessage_change", args=[message.pk]))
    assert detail.status_code == 200
    assert "SMTPServerDisconnected" in detail.text


def test_the_admin_index_lists_the_outbox_escalations_and_sweeps_for_an_administrator(
    client, keeper
):
    client.force_login(keeper)
    models = {
        model["object_name"]
        for app in client.get(reverse("admin:index")).context["app_list"]
        for model in app["models"]
    }
    assert {"OutboxMessage", "Escalation", "SweepRun"} <= models


@pytest.mark.parametrize("role", NOT_ADMINISTRATORS)
@pytest.mark.parametrize(
    "url_name",
    [
        "admin:cases_outboxmessage_changelist",
        "admin:cases_escalation_changelist",
        "admin:cases_sweeprun_changelist",
    ],
)
def test_nobody_but_administrators_opens_the_lists(client, staff, role, url_name):
    user = getattr(staff, role)
    client.force_login(user)
    response = client.get(reverse(url_name))
    if user.is_staff:
        assert response.status_code == 403
    else:
        assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("role", ["liaison", "supervisor"])
def test_staff_who_are_not_administrators_do_not_see_them_in_the_index(client, staff, role):
    client.force_login(getattr(staff, role))
    models = {
        model["object_name"]
        for app in client.get(reverse("admin:index")).context["app_list"]
        for model in app["models"]
    }
    assert models and not models & {"OutboxMessage", "Escalation", "SweepRun"}


def test_a_liaison_can_neither_open_nor_send_again_a_message(client, staff, report):
    [message] = make_messages([report()])
    client.force_login(staff.liaison)
    assert (
        client.get(reverse("admin:cases_outboxmessage_change", args=[message.pk])).status_code
        == 403
    )
    assert send_again(client, [message]).status_code == 403
    message.refresh_from_db()
    assert message.status == Status.FAILED


# -- cost ----------------------------------------------------------------------------------


def test_the_outbox_list_costs_the_same_queries_for_2_and_20_messages(client, keeper, report):
    cases = [report(description=f"垃圾 {i}") for i in range(20)]
    make_messages(cases[:2], prefix="a")
    client.force_login(keeper)
    url = reverse(CHANGELIST)
    client.get(url)  # warm the session and content-type caches
    with CaptureQueriesContext(connection) as two:
        assert len(client.get(url).context["cl"].result_list) == 2
    make_messages(cases[2:], prefix="b")
    with CaptureQueriesContext(connection) as twenty:
        assert len(client.get(url).context["cl"].result_list) == 20
    assert len(twenty) == len(two)
    with CaptureQueriesContext(connection) as filtered:
        client.get(url, {"status__exact": "failed", "kind": "extension", "q": cases[3].number})
    assert len(filtered) <= len(two) + 1


# -- send again ----------------------------------------------------------------------------


def test_send_again_requeues_only_failed_messages_and_says_so(
    client, keeper, report, django_capture_on_commit_callbacks
):
    case = report()
    [failed] = make_messages([case], prefix="failed")
    [sent] = make_messages([case], status=Status.SENT, prefix="sent")
    [pending] = make_messages([case], status=Status.PENDING, prefix="pending")
    nowhere = build_message(
        to="not an address", subject="s", text="t", kind="invitation", dedupe_key="nowhere"
    )
    nowhere.save()
    assert nowhere.status == Status.FAILED
    client.force_login(keeper)

    with django_capture_on_commit_callbacks() as callbacks:
        response = send_again(client, [failed, sent, pending, nowhere])

    assert response.status_code == 302
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (Status.PENDING, 0)
    assert OutboxMessage.objects.get(pk=sent.pk).status == Status.SENT
    assert OutboxMessage.objects.get(pk=pending.pk).status == Status.PENDING
    assert OutboxMessage.objects.get(pk=nowhere.pk).status == Status.FAILED
    assert len(callbacks) == 1  # the delivery, queued after the commit
    assert messages_of(response) == [
        ("success", "1 failed message will be sent again."),
        ("warning", "2 selected messages had not failed and were left as they are."),
        ("error", "Not sent again, not an email address: not an address"),
    ]
    [entry] = LogEntry.objects.all()
    assert (entry.user, entry.object_id, entry.action_flag) == (keeper, str(failed.pk), CHANGE)
    assert "Sent again" in entry.get_change_message()


def test_send_again_leaves_escalations_of_a_deadline_the_case_has_moved_on_from(
    client, keeper, report, cast
):
    reported_at = datetime(2026, 11, 23, 10, tzinfo=SHANGHAI)
    with time_machine.travel(reported_at, tick=False):
        waiting, accepted, cancelled = (report(description=f"垃圾 {i}") for i in range(3))
    escalation_sweep(now=reported_at + timedelta(hours=3))
    escalated = OutboxMessage.objects.filter(escalation__isnull=False)
    by_case = {
        case: set(escalated.filter(case=case).values_list("pk", flat=True))
        for case in (waiting, accepted, cancelled)
    }
    assert all(by_case.values())
    escalated.update(status=Status.FAILED, attempts=20, last_error="SMTP down")
    workflow.case_accept(case=accepted, actor=cast.liaison)  # a fresh, resolve deadline
    workflow.case_cancel(case=cancelled, actor=cast.dispatcher, reason="重复")
    client.force_login(keeper)

    response = send_again(client, list(escalated))

    still_waiting = by_case[waiting]
    moved_on = by_case[accepted] | by_case[cancelled]
    assert set(escalated.filter(status=Status.PENDING).values_list("pk", flat=True)) == (
        still_waiting
    )
    assert set(escalated.filter(status=Status.FAILED).values_list("pk", flat=True)) == moved_on
    left = len(moved_on)
    assert messages_of(response) == [
        (
            "success",
            f"{len(still_waiting)} failed messages will be sent again.",
        ),
        (
            "warning",
            f"{left} selected escalation emails were not sent again: their cases have "
            "moved on from those deadlines since (acted on, closed or cancelled).",
        ),
    ]


def test_send_again_is_one_update_however_many_are_selected(client, keeper, report):
    cases = [report(description=f"垃圾 {i}") for i in range(21)]
    client.force_login(keeper)
    # A first press fills the per-process caches (content types, the session's user).
    send_again(client, make_messages(cases[20:], prefix="warm"))
    counts = []
    for chosen, prefix in ((cases[:2], "a"), (cases[2:20], "b")):
        rows = make_messages(chosen, prefix=prefix)
        with CaptureQueriesContext(connection) as queries:
            send_again(client, rows)
        updates = [q for q in queries if q["sql"].startswith('UPDATE "cases_outboxmessage"')]
        assert len(updates) == 1
        counts.append(len(queries))
        assert set(
            OutboxMessage.objects.filter(pk__in=[r.pk for r in rows]).values_list(
                "status", flat=True
            )
        ) == {Status.PENDING}
    assert counts[0] == counts[1]
    assert LogEntry.objects.count() == 21


def test_a_message_sent_again_reaches_the_smtp_server_once(
    client, keeper, report, smtp, monkeypatch, django_capture_on_commit_callbacks
):
    [message] = make_messages([report()], status=Status.PENDING, prefix="boss")
    # The server refuses the address for good: the delivery marks the row failed.
    smtp.reject.add("boss0@example.org")
    assert deliver(message_pk=message.pk).outcome == "failed"
    message.refresh_from_db()
    assert message.status == Status.FAILED and "550" in message.last_error
    smtp.reject.clear()

    # The task the outbox queues runs here, as the worker would run it.
    def run_now(args, **options):
        tasks.send_outbox_message(*args)

    monkeypatch.setattr(tasks.send_outbox_message, "apply_async", run_now)
    client.force_login(keeper)
    with django_capture_on_commit_callbacks(execute=True):
        send_again(client, [message])
    with django_capture_on_commit_callbacks(execute=True):
        send_again(client, [message])  # pressed twice: sent, so left alone

    [received] = smtp.to("boss0@example.org")
    assert received["Message-ID"] == message.message_id
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.SENT, 1)


def test_case_numbers_are_plain_text_to_a_viewer_who_may_not_open_cases(client, report):
    from django.contrib.auth.models import Permission

    case = report()
    make_messages([case])
    mail_reader = User.objects.create_user(username="postmaster", password="x", is_staff=True)
    mail_reader.user_permissions.add(Permission.objects.get(codename="view_outboxmessage"))
    client.force_login(mail_reader)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert case.number in response.text
    assert reverse("admin:cases_case_change", args=[case.pk]) not in response.text
    assert "send_again" not in response.text  # viewing does not open "Send again"


def test_the_outbox_withholds_the_tokens_of_signed_links_from_whoever_reads_it(
    client, keeper, cast, world
):
    """An administrator who is no superuser must not take over an invited account (or
    acknowledge for a supervisor) with a link read in a copy of someone else's email."""
    from cases.services.invitations import users_invite
    from tests.conftest import make_user

    invited = make_user("chief", User.Role.ADMIN)
    invited.set_unusable_password()
    invited.save()
    users_invite(users=[invited])
    message = OutboxMessage.objects.get(kind="invitation", to=invited.email)
    token = re.search(r"/accounts/invite/([^/\s]+)/", message.text).group(1)
    for reader in (keeper, cast.admin):
        client.force_login(reader)
        page = client.get(reverse("admin:cases_outboxmessage_change", args=[message.pk])).text
        assert "/accounts/invite/…/" in page
        assert token not in page


def test_every_kind_of_signed_link_is_withheld_and_nothing_else(db):
    from cases.signed_links import without_tokens

    text = (
        "https://gov.example/escalations/ack/eyJwIjoxfQ:1x:AbC/ and"
        ' <a href="https://gov.example/extensions/decide/eyJ9:1y:Zz-_/">decide</a>'
        " https://gov.example/accounts/invite/abc:def/ https://gov.example/cases/2026-000001/"
    )
    assert without_tokens(text) == (
        "https://gov.example/escalations/ack/…/ and"
        ' <a href="https://gov.example/extensions/decide/…/">decide</a>'
        " https://gov.example/accounts/invite/…/ https://gov.example/cases/2026-000001/"
    )


def test_the_outbox_names_an_arbitration_request_in_words_and_filters_by_it(client, keeper, report):
    """The email a second return writes to the arbiters is a kind of its own: its column
    and the kind filter say what it is, as they do for every other email."""
    from cases.services.arbitration_mail import KIND

    case = report()
    OutboxMessage.objects.bulk_create(
        [
            build_message(
                to="arbiter@example.org",
                subject="s",
                text="t",
                kind=KIND,
                dedupe_key="test:arbitration",
                case=case,
            )
        ]
    )
    client.force_login(keeper)
    response = client.get(reverse(CHANGELIST), HTTP_ACCEPT_LANGUAGE="zh-hans")
    [kind_filter] = [
        f for f in response.context["cl"].filter_specs if getattr(f, "parameter_name", "") == "kind"
    ]
    assert (KIND, "仲裁请求") in kind_filter.lookup_choices
    assert '<td class="field-kind_in_words">仲裁请求</td>' in response.text
