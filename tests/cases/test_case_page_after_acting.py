"""What a person sees on the case pages right after acting: where a transition lands them,
what a refusal keeps of what they typed, and what each message and sentence says."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from cases.models import Case, State
from cases.services import workflow
from cases.services.privacy import reporters_anonymise
from tests.cases.test_pages import page_text

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def transition(client, case, name, **data):
    return client.post(reverse("cases:transition", args=[case.number, name]), data)


def test_a_liaison_who_returns_a_case_lands_on_their_list_not_on_a_404(client, cast, report):
    case = report()  # assigned to the liaison's department
    client.force_login(cast.liaison)
    response = transition(
        client, case, "return", reason="不归我们管", expected_version=case.version
    )
    assert response["Location"] == reverse("cases:list")
    assert messages_of(response) == [
        f"Case {case.number}: “return” done; its state is now “fallback pool”."
    ]
    assert client.get(response["Location"]).status_code == 200


def test_acting_on_a_case_another_passed_on_meanwhile_says_it_changed_not_404(client, cast, report):
    """SPEC §2: the one who loses is told the case changed, even when the winner's step took
    it out of their sight (a colleague's return to the pool while they pressed "accept")."""
    case = report()
    page_version = case.version
    workflow.case_return(case=case, actor=cast.liaison, reason="不归我们管")
    client.force_login(cast.liaison)
    response = transition(client, case, "accept", expected_version=page_version)
    assert response["Location"] == reverse("cases:list")
    assert messages_of(response) == [
        f"Case {case.number} changed while you were acting on it and is no longer yours to"
        " see: another step passed it on (to the pool or to another department). Nothing was"
        " done."
    ]
    assert Case.objects.get(pk=case.pk).state == State.FALLBACK
    # Posted with the version as it is, by someone who never saw it: still not found.
    current = transition(client, case, "accept", expected_version=case.version)
    assert current.status_code == 404
    # A case still theirs, a stale page, and a transition that does not exist: not found.
    mine = report()
    stale = mine.version
    workflow.case_accept(case=mine, actor=cast.liaison)
    assert transition(client, mine, "no-such-step", expected_version=stale).status_code == 404


def test_a_note_on_a_case_passed_on_meanwhile_says_so_not_404(client, cast, report):
    case = report()
    workflow.case_return(case=case, actor=cast.liaison, reason="不归我们管")
    client.force_login(cast.liaison)
    response = client.post(reverse("cases:note_add", args=[case.number]), {"text": "已联系"})
    assert response["Location"] == reverse("cases:list")
    assert messages_of(response) == [
        f"Case {case.number} changed while you were acting on it and is no longer yours to"
        " see: another step passed it on (to the pool or to another department). Nothing was"
        " done."
    ]
    assert not case.notes.exists()
    # A department the case never named is still told there is no such case.
    client.force_login(cast.other_liaison)
    other = client.post(reverse("cases:note_add", args=[case.number]), {"text": "已联系"})
    assert other.status_code == 404


def test_a_summoned_department_let_go_meanwhile_is_told_so_when_it_reports(
    client, cast, world, report
):
    """Summoned by a whistle, then left out of the re-dispatch after a return: its liaison's
    page still offers "report for duty"."""
    from tests.conftest import make_user

    case = report(category=world.stall, cell=world.n2)  # overlap: in the pool
    workflow.case_dispatch(
        case=case, actor=cast.dispatcher, lead=world.housing, assisting=[world.market], whistle=True
    )
    housing = make_user("zj", "liaison", department=world.housing)
    workflow.case_return(case=case, actor=housing, reason="不属于住建")
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.urban, assisting=[])
    client.force_login(cast.other_liaison)  # market regulation's
    response = client.post(reverse("cases:report_for_duty", args=[case.number]))
    assert response["Location"] == reverse("cases:list")
    assert "is no longer yours to see" in messages_of(response)[0]


def test_a_case_still_in_view_after_acting_leads_back_to_its_page(client, cast, report):
    case = report()
    client.force_login(cast.liaison)
    response = transition(client, case, "accept", expected_version=case.version)
    assert response["Location"] == reverse("cases:detail", args=[case.number])
    assert messages_of(response) == [
        f"Case {case.number}: “accept” done; its state is now “in progress”."
    ]


def test_a_refusal_by_the_workflow_keeps_the_words_for_the_case_as_it_is_now(client, cast, report):
    case = report()
    stale = case.version
    workflow.case_accept(case=case, actor=cast.liaison)  # someone else, meanwhile
    client.force_login(cast.liaison)
    response = transition(client, case, "return", reason="这是住建的活", expected_version=stale)

    assert response["Location"] == reverse("cases:detail", args=[case.number])
    assert Case.objects.get(pk=case.pk).state == State.IN_PROGRESS
    page = client.get(response["Location"])
    forms = {name: form for name, _label, form in page.context["transition_forms"]}
    kept = forms["return"]
    assert kept.is_bound and kept.data["reason"] == "这是住建的活"
    # The page shows the case as it is now: sent again, the form acts on that version.
    assert kept.data["expected_version"] == str(Case.objects.get(pk=case.pk).version)
    assert "这是住建的活" in page.text
    sent_again = transition(client, case, "return", **kept.data.dict())
    assert "done" in messages_of(sent_again)[-1]
    assert Case.objects.get(pk=case.pk).state == State.FALLBACK


def test_a_note_with_an_empty_file_says_what_is_wrong_with_the_file(client, cast, report):
    case = report()
    client.force_login(cast.caseworker)
    empty = SimpleUploadedFile("photo.jpg", b"", content_type="image/jpeg")
    response = client.post(
        reverse("cases:note_add", args=[case.number]), {"text": "已到现场", "photos": [empty]}
    )
    [message] = messages_of(response)
    assert message.startswith("The note was not added: ")
    assert "empty" in message and "write something first" not in message
    nothing = client.post(reverse("cases:note_add", args=[case.number]), {"text": ""})
    assert messages_of(nothing)[-1] == "The note was not added: write something first."


def test_photos_with_an_empty_file_say_what_is_wrong_with_it(client, cast, report):
    case = report()
    client.force_login(cast.caseworker)
    empty = SimpleUploadedFile("photo.jpg", b"", content_type="image/jpeg")
    response = client.post(reverse("cases:photos_add", args=[case.number]), {"photos": [empty]})
    [message] = messages_of(response)
    assert message.startswith("No photo was added: ") and "empty" in message
    none_chosen = client.post(reverse("cases:photos_add", args=[case.number]), {})
    assert messages_of(none_chosen)[-1] == "Choose one or more photos first."


def test_a_resolved_case_says_the_caseworker_checks_it_now(client, cast, world, report):
    case = report()
    workflow.case_accept(case=case, actor=cast.liaison)
    workflow.case_resolve(case=case, actor=cast.liaison, note="已清理")
    client.force_login(cast.caseworker)
    response = client.get(reverse("cases:detail", args=[case.number]))
    text = page_text(response)
    assert response.context["routing"].standing == "resolved"
    assert f"<strong>{world.urban.name}</strong>, the lead department, has resolved it" in text
    assert "a caseworker of 北街道 checks that it is fixed" in text
    assert "It is with" not in text


def test_the_timeline_says_in_words_that_the_reporters_contact_was_removed(client, cast, report):
    case = report(reporter_name="王先生", reporter_phone="13812345678")
    workflow.case_cancel(case=case, actor=cast.dispatcher, reason="重复上报")
    reporters_anonymise(now=timezone.now() + timedelta(days=400))
    client.force_login(cast.caseworker)
    text = page_text(client.get(reverse("cases:detail", args=[case.number])))
    assert "<strong>reporter&#x27;s contact removed (retention period over)</strong>" in text
    assert "<strong>anonymise</strong>" not in text


# That morning: the summons is not late yet (past 13:00 the page says it was due).
@time_machine.travel(datetime(2026, 12, 7, 9, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False)
def test_a_summons_due_in_the_afternoon_reads_as_one_sentence(client, cast, world, report):
    case = report(category=world.stall, cell=world.n2)  # overlap: in the pool
    workflow.case_dispatch(
        case=case, actor=cast.dispatcher, lead=world.urban, assisting=[world.market], whistle=True
    )
    due = datetime(2026, 12, 7, 13, tzinfo=ZoneInfo("Asia/Shanghai"))
    case.assists.filter(department=world.market).update(report_due_at=due)
    client.force_login(cast.other_liaison)  # of the summoned department
    text = page_text(client.get(reverse("cases:detail", args=[case.number])))
    # A 24-hour time, and not at the sentence's end: Django's English "1 p.m." ended it
    # in two full stops.
    assert "By Dec. 7, 2026, 13:00, 市场监管局, summoned by a whistle, must report" in text
    assert "p.m." not in text
