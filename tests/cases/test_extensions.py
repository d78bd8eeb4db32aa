"""Extension requests (延期): a liaison asks, a supervisor approves or refuses in the admin
or from a signed email link, an approval moves the deadline as a new one, every step is
in the audit trail."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse

from cases.models import CaseEvent, ExtensionRequest, OutboxMessage, State
from cases.services import extensions, workflow
from cases.services.transitions import NotPermitted, WorkflowError
from departments.calendar import get_calendar
from departments.models import User
from departments.services import sync_role_group
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)
from tests.conftest import make_user

Status = ExtensionRequest.Status


@pytest.fixture
def case(report, cast):
    case = report(description="垃圾清运")
    return workflow.case_accept(case=case, actor=cast.liaison)


@pytest.fixture
def lead_by_market(report, cast, world):
    case = report(category=world.stall, description="占道经营")
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.market)
    return workflow.case_accept(case=case, actor=cast.other_liaison)


@pytest.fixture
def supervisor(cast):
    sync_role_group(cast.supervisor)
    cast.supervisor.refresh_from_db()
    return cast.supervisor


def act_url(case, name):
    return reverse("admin:cases_case_act", args=[case.pk, name])


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def ask(case, liaison, days="2", reason="需要协调物业"):
    return extensions.extension_request(
        case=case, actor=liaison, reason=reason, extra_days=Decimal(days)
    )


def link_in(message):
    return re.search(r"https?://\S+/extensions/decide/\S+/", message.text).group(0)


def path_of(url):
    return "/" + url.split("/", 3)[3]


def test_liaison_asks_for_an_extension_from_the_admin(client, cast, case):
    client.force_login(cast.liaison)
    response = client.post(
        act_url(case, "request-extension"),
        {
            "version": case.version,
            "extra_days": "2",
            "reason": "需要协调物业",
        },
        follow=True,
    )
    request = ExtensionRequest.objects.get(case=case)
    assert (request.status, request.extra_days, request.requested_by) == (
        Status.PENDING,
        Decimal("2"),
        cast.liaison,
    )
    assert request.old_due_at == case.due_at
    event = case.events.get(action="extension_request")
    assert (event.from_state, event.to_state, event.comment) == (
        State.IN_PROGRESS,
        State.IN_PROGRESS,
        "需要协调物业",
    )
    assert any("extension" in text for text in messages_of(response))


def test_the_request_emails_the_department_and_township_supervisors_each_a_link(cast, case):
    request = ask(case, cast.liaison)
    messages = OutboxMessage.objects.filter(kind="extension").order_by("to")
    assert [message.to for message in messages] == [
        "cg-boss@example.org",
        "supervisor@example.org",
    ]
    for message in messages:
        url = link_in(message)
        assert extensions.read_decision_token(url.rstrip("/").rsplit("/", 1)[1]) == (
            request.pk,
            message.to,
        )


def test_the_request_is_written_in_each_supervisors_language_with_the_case_link(
    cast,
    case,
    compiled_catalogue,  # noqa: F811
):
    User.objects.filter(pk=cast.supervisor.pk).update(language="zh-hans")
    with time_machine.travel(case.due_at + timedelta(hours=1)):
        ask(case, cast.liaison)
    messages = {m.to: m for m in OutboxMessage.objects.filter(kind="extension")}
    chinese, english = messages["supervisor@example.org"], messages["cg-boss@example.org"]
    assert "申请延长" in chinese.subject and "asks for" not in chinese.text
    assert chinese.language == "zh-hans" and english.language in ("", "en")
    assert "overdue since" in english.text and "now due" not in english.text
    # The admin's case page, where a signed-in supervisor decides.
    decide_there = f"/admin/cases/case/{case.pk}/change/"
    assert decide_there in english.text and decide_there in chinese.text


def test_a_second_request_waits_for_the_first_decision(cast, case):
    ask(case, cast.liaison)
    with pytest.raises(WorkflowError, match="already has an extension request"):
        ask(case, cast.liaison, days="1")
    assert ExtensionRequest.objects.count() == 1


def test_only_the_lead_liaison_may_ask(cast, case, world):
    with pytest.raises(NotPermitted):
        ask(case, cast.other_liaison)
    with pytest.raises(NotPermitted):
        ask(case, cast.dispatcher)
    assert not ExtensionRequest.objects.exists()


def test_a_request_needs_a_reason_and_a_sensible_number_of_days(cast, case):
    with pytest.raises(WorkflowError):
        ask(case, cast.liaison, reason=" ")
    with pytest.raises(WorkflowError):
        ask(case, cast.liaison, days="90")
    assert not case.events.filter(action="extension_request").exists()


def test_supervisor_approves_in_the_admin_and_the_deadline_moves_as_a_new_one(
    client, cast, case, supervisor
):
    request = ask(case, cast.liaison)
    case.refresh_from_db()
    old_due, old_seq = case.due_at, case.deadline_seq
    client.force_login(supervisor)
    page = client.get(reverse("admin:cases_case_change", args=[case.pk]))
    assert "decide-extension" in [form["name"] for form in page.context["transition_forms"]]
    response = client.post(
        act_url(case, "decide-extension"),
        {
            "version": case.version,
            "request": request.pk,
            "decision": "approve",
            "note": "同意",
        },
        follow=True,
    )
    assert f"Case {case.number}: the extension request is approved." in messages_of(response)
    request.refresh_from_db()
    case.refresh_from_db()
    assert (request.status, request.decided_by) == (Status.APPROVED, supervisor)
    assert case.deadline_seq == old_seq + 1
    assert case.escalation_level == 0
    assert request.new_due_at == case.due_at
    two_days = 2 * get_calendar().day_seconds
    assert get_calendar().working_seconds_between(old_due, case.due_at) == pytest.approx(
        two_days, abs=60
    )
    told = OutboxMessage.objects.get(kind="extension-decision")
    assert told.to == cast.liaison.email
    assert case.number in told.text
    event = case.events.get(action="extension_approve")
    assert (event.actor, event.from_state, event.to_state) == (
        supervisor,
        State.IN_PROGRESS,
        State.IN_PROGRESS,
    )


def test_supervisor_refuses_and_the_deadline_stays(client, cast, case, supervisor):
    request = ask(case, cast.liaison)
    case.refresh_from_db()
    due = case.due_at
    extensions.extension_decide(request=request, approve=False, actor=supervisor, note="不同意")
    case.refresh_from_db()
    request.refresh_from_db()
    assert request.status == Status.REFUSED
    assert case.due_at == due
    assert case.events.filter(action="extension_refuse", comment="不同意").exists()


def test_liaison_cannot_approve_their_own_request_by_a_forged_post(client, cast, case):
    request = ask(case, cast.liaison)
    client.force_login(cast.liaison)
    response = client.post(
        act_url(case, "decide-extension"),
        {
            "version": case.version,
            "request": request.pk,
            "decision": "approve",
        },
        follow=True,
    )
    request.refresh_from_db()
    assert request.status == Status.PENDING
    assert any("supervisor" in text for text in messages_of(response))


def test_a_supervisor_of_another_township_cannot_decide(cast, case, world):
    south_supervisor = make_user("south_sup", User.Role.SUPERVISOR, township=world.south)
    request = ask(case, cast.liaison)
    with pytest.raises(NotPermitted):
        extensions.extension_decide(request=request, approve=True, actor=south_supervisor)
    request.refresh_from_db()
    assert request.status == Status.PENDING


def test_signed_link_shows_a_confirmation_and_decides_only_on_post(client, cast, case):
    ask(case, cast.liaison)
    message = OutboxMessage.objects.get(kind="extension", to="cg-boss@example.org")
    path = path_of(link_in(message))
    page = client.get(path)
    assert page.status_code == 200
    assert case.number in page.text
    assert "no-store" in page["Cache-Control"]  # the link acts for its recipient
    request = ExtensionRequest.objects.get()
    assert request.status == Status.PENDING

    response = client.post(path, {"decision": "approve", "note": "特批"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert (request.status, request.decided_by_label) == (Status.APPROVED, "cg-boss@example.org")
    event = case.events.get(action="extension_approve")
    assert (event.actor, event.actor_label) == (None, "cg-boss@example.org")


def test_a_link_to_a_request_that_no_longer_applies_says_so_and_offers_nothing(client, cast, case):
    ask(case, cast.liaison)
    path = path_of(link_in(OutboxMessage.objects.get(kind="extension", to="cg-boss@example.org")))
    workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管")  # it lapses now
    page = client.get(path)
    assert "This request lapsed at" in page.text and 'name="decision"' not in page.text

    client.post(path, {"decision": "approve"})  # an old tab's form, sent anyway
    request = ExtensionRequest.objects.get()
    assert request.status == Status.LAPSED and request.decided_by_label == ""
    page = client.get(path)
    assert "This request lapsed at" in page.text and " by cg-boss@example.org" not in page.text


def test_a_link_of_an_address_that_no_longer_decides_is_refused(client, cast, case):
    ask(case, cast.liaison)
    path = path_of(link_in(OutboxMessage.objects.get(kind="extension", to="cg-boss@example.org")))
    case.lead_department.supervisor_emails = "new-boss@example.org"
    case.lead_department.save()

    response = client.post(path, {"decision": "approve"})

    assert response.context["error"] == (
        "cg-boss@example.org no longer decides on this case's extensions."
    )
    assert ExtensionRequest.objects.get().status == Status.PENDING


def test_a_pending_request_lapses_as_soon_as_its_deadline_ends(client, cast, case, supervisor):
    request = ask(case, cast.liaison)
    case.refresh_from_db()
    workflow.case_resolve(case=case, actor=cast.liaison, note="已处理")
    request.refresh_from_db()
    assert request.status == Status.LAPSED and request.decided_at is not None
    lapse = case.events.get(action="extension_lapse")
    assert lapse.actor is None and lapse.data["extension"] == request.pk
    client.force_login(supervisor)
    page = client.get(reverse("admin:cases_case_change", args=[case.pk]))
    assert "decide-extension" not in [form["name"] for form in page.context["transition_forms"]]


def test_a_used_link_decides_nothing_again(client, cast, case):
    ask(case, cast.liaison)
    path = path_of(link_in(OutboxMessage.objects.filter(kind="extension").first()))
    client.post(path, {"decision": "refuse"})
    again = client.post(path, {"decision": "approve"})
    request = ExtensionRequest.objects.get()
    assert request.status == Status.REFUSED
    assert "nothing more to do" in again.text
    assert case.events.filter(action__startswith="extension_").count() == 2


def test_an_expired_link_is_refused(client, cast, case):
    ask(case, cast.liaison)
    path = path_of(link_in(OutboxMessage.objects.filter(kind="extension").first()))
    with time_machine.travel(timedelta(days=15)):
        response = client.post(path, {"decision": "approve"})
    assert response.status_code == 410
    assert ExtensionRequest.objects.get().status == Status.PENDING


def test_an_expired_link_and_the_decision_page_link_to_the_case_a_sign_in_decides_on(
    client, cast, case
):
    """ "Sign in to decide on the extension in the admin", said the expired link's page,
    with no link to it: a supervisor on a phone had nowhere to go."""
    ask(case, cast.liaison)
    path = path_of(link_in(OutboxMessage.objects.filter(kind="extension").first()))
    admin_page = f'href="{reverse("admin:cases_case_change", args=[case.pk])}"'
    assert admin_page in client.get(path).text
    with time_machine.travel(timedelta(days=15)):
        expired = client.get(path)
    assert expired.status_code == 410 and admin_page in expired.text


def test_a_tampered_link_is_refused(client, cast, case):
    request = ask(case, cast.liaison)
    token = extensions.decision_token(request_pk=request.pk, address="cg-boss@example.org")
    payload, _, signature = token.rpartition(":")
    forged = extensions.decision_token(request_pk=request.pk, address="x@example.org")
    tampered = forged.rpartition(":")[0] + ":" + signature
    response = client.post(reverse("extensions:decide", args=[tampered]), {"decision": "approve"})
    assert response.status_code == 400
    assert "/admin/cases/case/" not in response.text  # it names no case we can trust
    assert ExtensionRequest.objects.get().status == Status.PENDING


def test_a_request_lapses_when_its_deadline_ended_before_the_decision(cast, case, supervisor):
    request = ask(case, cast.liaison)
    case.refresh_from_db()
    workflow.case_resolve(case=case, actor=cast.liaison, note="已处理")
    with pytest.raises(WorkflowError, match="already decided: lapsed"):
        extensions.extension_decide(request=request, approve=True, actor=supervisor)
    request.refresh_from_db()
    assert request.status == Status.LAPSED and request.decided_by is None
    case.refresh_from_db()
    assert case.state == State.RESOLVED
    assert case.due_at is None
    # One left pending from before transitions lapsed them lapses when decided on, the same.
    ExtensionRequest.objects.filter(pk=request.pk).update(status=Status.PENDING)
    decided = extensions.extension_decide(request=request, approve=True, actor=supervisor)
    assert decided.status == Status.LAPSED
    assert case.events.filter(action="extension_lapse").count() == 2


def test_an_approved_extension_restarts_the_escalation_ladder(cast, case, supervisor):
    from cases.services.escalation import escalation_sweep

    case.refresh_from_db()
    late = case.due_at + timedelta(minutes=5)
    with time_machine.travel(late):
        first = escalation_sweep(now=late)
        assert [e.level for e in first.escalated] == [1]
        request = ask(case, cast.liaison, days="1")
        extensions.extension_decide(request=request, approve=True, actor=supervisor)
    case.refresh_from_db()
    assert case.escalation_level == 0
    assert case.due_at > late
    before_new_due = case.due_at - timedelta(minutes=1)
    assert escalation_sweep(now=before_new_due).escalated == []
    after_new_due = case.due_at + timedelta(minutes=1)
    again = escalation_sweep(now=after_new_due)
    assert [(e.level, e.deadline_seq) for e in again.escalated] == [(1, case.deadline_seq)]


def test_extension_requests_list_is_scoped_like_the_cases(client, cast, case, lead_by_market):
    own = ask(case, cast.liaison)
    other = ask(lead_by_market, cast.other_liaison)
    client.force_login(cast.liaison)
    changelist = client.get(reverse("admin:cases_extensionrequest_changelist"))
    assert list(changelist.context["cl"].result_list) == [own]
    url = reverse("admin:cases_extensionrequest_change", args=[other.pk])
    assert client.get(url).status_code == 404
    client.force_login(cast.admin)
    changelist = client.get(reverse("admin:cases_extensionrequest_changelist"))
    assert set(changelist.context["cl"].result_list) == {own, other}


def test_supervision_links_to_the_departments_extension_requests(client, cast, case, supervisor):
    ask(case, cast.liaison)
    client.force_login(cast.admin)
    page = client.get(reverse("admin:cases_supervision"))
    figures = {f.department.code: f for f in page.context["figures"]}
    assert figures["CG"].extensions == 1
    listed = client.get(figures["CG"].links["extensions"]).context["cl"].result_list
    assert [request.case for request in listed] == [case]


def test_request_and_audit_pages_link_departments_and_users_only_for_who_may_open_them(
    client, cast, case
):
    extension = ask(case, cast.liaison)
    accepted = CaseEvent.objects.get(case=case, action="accept")
    pages = [
        reverse("admin:cases_extensionrequest_change", args=[extension.pk]),
        reverse("admin:cases_caseevent_change", args=[accepted.pk]),
    ]
    client.force_login(cast.liaison)
    for url in pages:
        page = client.get(url)
        assert page.status_code == 200
        # Those pages answer a liaison with 403.
        assert "/admin/departments/" not in page.text, url
    assert str(cast.liaison) in page.text
    client.force_login(cast.admin)
    assert "/admin/departments/user/" in client.get(pages[1]).text


@pytest.mark.parametrize(
    ("days", "words"),
    [("1", "asks for 1 more working day"), ("2.50", "asks for 2.5 more working days")],
)
def test_the_request_email_counts_its_days_in_words(cast, case, days, words):
    ask(case, cast.liaison, days=days)
    message = OutboxMessage.objects.filter(kind="extension").first()
    assert message.subject.endswith(words)
    assert f"{words} on case {case.number}" in message.text
    assert f"{words} on case {case.number}" in message.html


def test_a_used_link_says_in_chinese_who_decided_in_one_plain_sentence(
    client,
    cast,
    case,
    compiled_catalogue,  # noqa: F811
):
    ask(case, cast.liaison)
    path = path_of(link_in(OutboxMessage.objects.filter(kind="extension").first()))
    client.post(path, {"decision": "approve"})
    page = client.get(path, HTTP_ACCEPT_LANGUAGE="zh-hans").text
    assert "此申请由" in page and "处理，结果：已批准" in page
    assert "已由" not in page  # "已由 … 已批准" said 已 twice


def test_the_requests_list_and_page_show_the_days_as_written(client, cast, case):
    request = ask(case, cast.liaison, days="2")
    client.force_login(cast.liaison)
    listed = client.get(reverse("admin:cases_extensionrequest_changelist")).text
    page = client.get(reverse("admin:cases_extensionrequest_change", args=[request.pk])).text
    for text in (listed, page):
        assert '<td class="field-days">2</td>' in text or '<div class="readonly">2</div>' in text
        assert "2.00" not in text


PHONE, MASKED_PHONE = "13812345678", "138****5678"
NOT_AT_HOME = f"举报人 {PHONE} 不在家，需要再约时间"
CALLED = f"已电话核实 {PHONE}"


def decided(case, liaison, supervisor):
    """A request whose reason and decision note both carry the reporter's number."""
    request = ask(case, liaison, reason=NOT_AT_HOME)
    return extensions.extension_decide(request=request, approve=True, actor=supervisor, note=CALLED)


def test_the_case_admin_masks_a_number_in_an_extension_reason_as_it_masks_the_description(
    client, cast, case, supervisor
):
    ask(case, cast.liaison, reason=NOT_AT_HOME)
    url = reverse("admin:cases_case_change", args=[case.pk])
    for reader in (cast.liaison, supervisor):
        client.force_login(reader)
        page = client.get(url).text
        assert PHONE not in page and f"举报人 {MASKED_PHONE} 不在家" in page, reader
    client.force_login(cast.admin)
    table = client.get(url).text.split('class="module case-extensions"')[1]
    assert NOT_AT_HOME in table.split("</table>")[0]


def test_the_case_admin_shows_the_decision_note_masked_as_the_reason(
    client, cast, case, supervisor
):
    decided(case, cast.liaison, supervisor)
    url = reverse("admin:cases_case_change", args=[case.pk])
    client.force_login(cast.liaison)
    table = client.get(url).text.split('class="module case-extensions"')[1].split("</table>")[0]
    assert f"已电话核实 {MASKED_PHONE}" in table and PHONE not in table
    client.force_login(cast.admin)
    table = client.get(url).text.split('class="module case-extensions"')[1].split("</table>")[0]
    assert CALLED in table


def test_the_extension_request_admin_masks_numbers_in_the_reason_and_the_note(
    client, cast, case, supervisor
):
    request = decided(case, cast.liaison, supervisor)
    url = reverse("admin:cases_extensionrequest_change", args=[request.pk])
    for reader in (cast.liaison, supervisor):
        client.force_login(reader)
        page = client.get(url).text
        assert PHONE not in page, reader
        assert f"举报人 {MASKED_PHONE} 不在家" in page and f"已电话核实 {MASKED_PHONE}" in page
    client.force_login(cast.admin)
    page = client.get(url).text
    assert NOT_AT_HOME in page and CALLED in page


def test_searching_extension_requests_by_digits_never_tells_a_masked_reader_a_reason(
    client, cast, case
):
    """Matching "1381", then "13812", … against reasons would give the masked digits away
    one at a time, as against descriptions (tests/cases/test_privacy.py)."""
    ask(case, cast.liaison, reason=NOT_AT_HOME)
    changelist = reverse("admin:cases_extensionrequest_changelist")

    def found(user, search):
        client.force_login(user)
        return len(client.get(changelist, {"q": search}).context["cl"].result_list)

    def filtered(user, lookup):
        client.force_login(user)
        return client.get(changelist, {lookup: "13812"}).status_code

    assert found(cast.liaison, "13812") == 0
    assert found(cast.liaison, "不在家") == 1  # words still match
    assert filtered(cast.liaison, "reason__contains") == 400
    assert filtered(cast.liaison, "decision_note__contains") == 400
    assert found(cast.admin, "13812") == 1
    assert filtered(cast.admin, "reason__contains") == 200


def test_the_decision_link_masks_the_reason_unless_the_reader_signed_in_sees_contacts(
    client, cast, case
):
    ask(case, cast.liaison, reason=NOT_AT_HOME)
    path = path_of(link_in(OutboxMessage.objects.get(kind="extension", to="cg-boss@example.org")))
    page = client.get(path).text  # as the email's recipient, who signs in nowhere
    assert PHONE not in page and f"举报人 {MASKED_PHONE} 不在家" in page
    client.force_login(cast.supervisor)
    assert PHONE not in client.get(path).text
    for reader in (cast.dispatcher, cast.admin):  # who call the reporter back
        client.force_login(reader)
        assert NOT_AT_HOME in client.get(path).text, reader


def test_extension_emails_mask_numbers_in_the_reason_and_the_note(cast, case, supervisor):
    decided(case, cast.liaison, supervisor)
    sent = {
        kind: list(OutboxMessage.objects.filter(kind=kind))
        for kind in ("extension", "extension-decision")
    }
    assert len(sent["extension"]) == 2 and len(sent["extension-decision"]) == 1
    for message in [*sent["extension"], *sent["extension-decision"]]:
        for part in (message.subject, message.text, message.html):
            assert PHONE not in part, message.kind
    for message in sent["extension"]:
        assert f"举报人 {MASKED_PHONE} 不在家" in message.text
        assert f"举报人 {MASKED_PHONE} 不在家" in message.html
    (told,) = sent["extension-decision"]
    assert f"已电话核实 {MASKED_PHONE}" in told.text and f"已电话核实 {MASKED_PHONE}" in told.html
