"""A closed or cancelled case is finished (SPEC §2: terminal): no path adds photos to it,
and each says why; a note without photos is still a note."""

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.urls import reverse

from cases.models import CasePhoto, State
from cases.services import workflow
from cases.services.photos import case_add_photos
from tests.cases.test_photos import image_file, media_root  # noqa: F401 (a fixture)


@pytest.fixture(params=[State.CLOSED, State.CANCELLED])
def finished(request, report, cast):
    case = report()
    if request.param == State.CLOSED:
        workflow.case_accept(case=case, actor=cast.liaison)
        workflow.case_resolve(case=case, actor=cast.liaison, note="已清理")
        workflow.case_verify(case=case, actor=cast.caseworker)
    else:
        workflow.case_cancel(case=case, actor=cast.dispatcher, reason="重复上报")
    case.refresh_from_db()
    assert case.state == request.param
    return case


def _messages(response) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


def test_the_photo_service_refuses_a_finished_case(finished, cast):
    with pytest.raises(ValidationError) as refusal:
        case_add_photos(case=finished, uploaded_by=cast.caseworker, uploads=[image_file()])
    assert f"{finished.number} is {finished.get_state_display()}" in str(refusal.value)
    assert not CasePhoto.objects.exists()


def test_the_case_page_neither_offers_nor_takes_photos_for_a_finished_case(client, cast, finished):
    client.force_login(cast.caseworker)
    page = client.get(reverse("cases:detail", args=[finished.number]))
    add_photos = reverse("cases:photos_add", args=[finished.number])
    assert f'action="{add_photos}"' not in page.text
    assert 'name="photos"' not in page.text  # nor the note's photos field

    response = client.post(add_photos, {"photos": [image_file()]})

    assert "No photo was added" in _messages(response)
    assert f"{finished.number} is {finished.get_state_display()}" in _messages(response)
    assert not CasePhoto.objects.exists()


def test_a_note_with_photos_on_a_finished_case_is_refused_and_without_them_is_kept(
    client, cast, finished
):
    client.force_login(cast.caseworker)
    url = reverse("cases:note_add", args=[finished.number])

    refused = client.post(url, {"text": "居民又来电", "photos": [image_file()]})
    assert "The note was not added" in _messages(refused)
    assert not CasePhoto.objects.exists() and not finished.notes.exists()

    client.post(url, {"text": "居民又来电"})
    assert finished.notes.get().text == "居民又来电"
