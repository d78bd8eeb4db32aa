"""Photo rules (cases/services/photo_checks.py) through the pages: type by content, 10 MB, at most
5, EXIF stripped, and served only to those who may see the case."""

import io
import re
import struct
import uuid
import zlib
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from cases import tasks
from cases.forms import ReportForm
from cases.models import Case, CasePhoto, HeldPhoto
from cases.services import photo_checks as photo_rules
from cases.services.held_photos import held_photos_purge, photos_hold
from cases.services.photos import case_add_photos
from tests.cases.open311support import api_key_fixture, post_request  # noqa: F401


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def image_file(
    name="photo.jpg", fmt="JPEG", gps=False, size=(40, 30), colour=None
) -> SimpleUploadedFile:
    """A small picture; files of different names are different pictures (a case keeps the
    same picture once), unless `colour` makes them the same."""
    buffer = io.BytesIO()
    image = Image.new("RGB", size, colour or tuple(zlib.crc32(name.encode()).to_bytes(4)[:3]))
    kwargs = {}
    if gps:
        exif = Image.Exif()
        exif[0x8825] = {1: "N", 2: (30.0, 1.0, 2.0), 3: "E", 4: (120.0, 1.0, 2.0)}
        exif[0x010F] = "PhoneMaker"
        kwargs["exif"] = exif.tobytes()
    image.save(buffer, fmt, **kwargs)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


def new_case_data(world, **extra):
    data = {
        "category": world.rubbish.pk,
        "cell": world.n1.pk,
        "description": "垃圾",
        "urgency": "normal",
    }
    data.update(extra)
    return data


def test_report_with_photos_stores_them_without_exif_location(client, cast, world):
    client.force_login(cast.caseworker)
    upload = image_file(gps=True)
    assert Image.open(io.BytesIO(upload.read())).getexif().get(0x8825)
    upload.seek(0)
    response = client.post(
        "/cases/new/", new_case_data(world, photos=[upload, image_file("b.png", "PNG")])
    )
    assert response.status_code == 302
    case = Case.objects.get()
    stored = list(case.photos.all())
    assert len(stored) == 2
    with stored[0].image.open("rb") as handle:
        exif = Image.open(handle).getexif()
    assert not exif.get(0x8825) and not exif.get(0x010F)
    assert {p.content_type for p in stored} == {"image/jpeg", "image/png"}


def held_ids(page: str) -> list[str]:
    """The held photos' ids the report form carries back (not the duplicates' note forms)."""
    report_form = page[page.index('id="report-form"') :]
    return re.findall(r'name="held_photos" value="([0-9a-f-]{36})"', report_form)


def stop_at_duplicates(client, world, report, photos):
    report()
    response = client.post("/cases/new/", new_case_data(world, photos=photos))
    assert response.context["duplicates"]
    return response


def test_photos_stopped_by_the_duplicate_check_are_kept_for_the_new_case(
    client, cast, world, report, settings, django_capture_on_commit_callbacks
):
    """A browser cannot be handed files back: the page carries the held photos' ids, and
    the case reported anyway gets them, with the new photos attached on that page."""
    client.force_login(cast.caseworker)
    response = stop_at_duplicates(
        client, world, report, [image_file(gps=True), image_file("b.png", "PNG")]
    )
    page = response.content.decode()
    assert 'id="photos-kept"' in page and "2 photos you attached are kept" in page
    ids = held_ids(page)
    assert len(ids) == 2 and not CasePhoto.objects.exists()
    held_files = [settings.MEDIA_ROOT / photo.image.name for photo in HeldPhoto.objects.all()]
    assert all(path.exists() for path in held_files)

    with django_capture_on_commit_callbacks(execute=True):  # the held files go on commit
        response = client.post(
            "/cases/new/",
            new_case_data(world, confirm_new="on", held_photos=ids, photos=[image_file("c.jpg")]),
        )

    assert response.status_code == 302
    case = Case.objects.latest("pk")
    stored = list(case.photos.all())
    assert len(stored) == 3
    assert sorted(p.content_type for p in stored) == ["image/jpeg", "image/jpeg", "image/png"]
    with stored[0].image.open("rb") as handle:
        assert not Image.open(handle).getexif().get(0x8825)  # re-encoded when held
    assert not HeldPhoto.objects.exists()
    assert not any(path.exists() for path in held_files)


def test_a_refused_photo_keeps_the_good_photos_sent_with_it(client, cast, world, monkeypatch):
    """One file too large among a phone's gallery picks: that one is refused and named, the
    others are kept for the report, not to be picked again."""
    monkeypatch.setattr(photo_rules, "MAX_PHOTO_BYTES", 2_000)
    big = image_file("big.jpg", size=(400, 400))  # 3 KB, past the 2 KB set here
    client.force_login(cast.caseworker)
    response = client.post("/cases/new/", new_case_data(world, photos=[big, image_file("ok.jpg")]))
    page = response.content.decode()
    assert not Case.objects.exists()
    assert "big.jpg is larger than 10 MB." in page
    assert 'id="photos-kept"' in page and "The photo you attached is kept" in page
    # Beside the photos field too, where the error list's link leads.
    assert "1 photo is kept for this report already: attach only others." in page
    ids = held_ids(page)
    assert len(ids) == 1

    response = client.post("/cases/new/", new_case_data(world, held_photos=ids))
    assert response.status_code == 302
    assert Case.objects.get().photos.count() == 1


def test_held_photos_go_with_the_report_added_to_a_duplicate(client, cast, world, report):
    client.force_login(cast.caseworker)
    response = stop_at_duplicates(client, world, report, [image_file()])
    duplicate = response.context["duplicates"][0]
    page = response.content.decode()
    note_form = page[page.index(f"/cases/{duplicate.number}/notes/") :]
    ids = re.findall(r'name="held_photos" value="([0-9a-f-]{36})"', note_form)[:1]
    assert ids == held_ids(page)

    client.post(
        reverse("cases:note_add", args=[duplicate.number]),
        {"text": "又看到一次", "held_photos": ids},
    )

    assert duplicate.photos.count() == 1
    assert duplicate.notes.get().text == "又看到一次"
    assert not HeldPhoto.objects.exists()


def test_a_report_with_held_photos_sent_twice_shows_the_first_case(client, cast, world, report):
    """The first submission took the held photos with it: the second, the same form sent
    again (a double click), is answered with the case it made, not "photos are gone"."""
    client.force_login(cast.caseworker)
    ids = held_ids(stop_at_duplicates(client, world, report, [image_file()]).content.decode())
    data = new_case_data(
        world, confirm_new="on", held_photos=ids, idempotency_key=str(uuid.uuid4())
    )
    first = client.post("/cases/new/", data)
    assert first.status_code == 302

    again = client.post("/cases/new/", data, follow=True)

    case = Case.objects.latest("pk")
    assert again.redirect_chain == [(first.url, 302)]
    assert f"This form was already sent: case {case.number}." in again.content.decode()
    assert Case.objects.count() == 2 and case.photos.count() == 1


def test_another_users_held_photos_cannot_be_claimed(client, cast, world, report):
    client.force_login(cast.caseworker)
    ids = held_ids(stop_at_duplicates(client, world, report, [image_file()]).content.decode())
    client.force_login(cast.dispatcher)

    response = client.post("/cases/new/", new_case_data(world, confirm_new="on", held_photos=ids))

    assert response.status_code == 200
    assert "held_photos" in response.context["form"].errors
    assert "photos kept for this report are gone" in response.content.decode()
    assert Case.objects.count() == 1 and HeldPhoto.objects.count() == 1


def test_a_report_without_held_photos_cleans_them_to_an_empty_list(cast, world):
    # The usual report: no queryset is built or evaluated for the absent field.
    form = ReportForm(new_case_data(world), user=cast.caseworker)

    assert form.is_valid(), form.errors
    assert form.cleaned_data["held_photos"] == []
    assert form.fields["held_photos"].queryset.query.is_empty()


def test_the_gone_message_says_how_long_photos_are_kept(client, cast, world, settings):
    settings.HELD_PHOTO_HOURS = 2
    client.force_login(cast.caseworker)

    response = client.post(
        "/cases/new/", new_case_data(world, confirm_new="on", held_photos=[str(uuid.uuid4())])
    )

    assert "gone (they are kept for 2 hours)" in response.content.decode()
    assert not Case.objects.exists()


def test_held_and_new_photos_together_stay_within_five(client, cast, world, report):
    client.force_login(cast.caseworker)
    photos = [image_file(f"{i}.jpg") for i in range(3)]
    ids = held_ids(stop_at_duplicates(client, world, report, photos).content.decode())
    more = [image_file(f"more-{i}.jpg") for i in range(3)]

    response = client.post(
        "/cases/new/", new_case_data(world, confirm_new="on", held_photos=ids, photos=more)
    )

    assert "photos" in response.context["form"].errors
    assert Case.objects.count() == 1 and not CasePhoto.objects.exists()
    # The page shown again still carries the three held photos, and holds none of the six.
    assert sorted(held_ids(response.content.decode())) == sorted(ids)


def test_a_note_refused_for_a_photo_too_many_comes_back_with_its_words(client, cast, report):
    case = report()
    client.force_login(cast.caseworker)
    url = reverse("cases:note_add", args=[case.number])
    client.post(url, {"text": "先前的照片", "photos": [image_file(f"{i}.jpg") for i in range(4)]})
    response = client.post(
        url,
        {"text": "又拍了两张，垃圾更多了", "photos": [image_file("a.jpg"), image_file("b.jpg")]},
    )

    page = client.get(response["Location"])
    assert "The note was not added" in page.text
    assert page.context["note_form"]["text"].value() == "又拍了两张，垃圾更多了"
    assert case.notes.count() == 1
    # Once: the next visit shows an empty form again.
    assert not client.get(response["Location"]).context["note_form"]["text"].value()


def test_a_report_shown_again_for_a_wrong_field_keeps_its_photos(client, cast, world):
    client.force_login(cast.caseworker)
    response = client.post(
        "/cases/new/", new_case_data(world, description="", photos=[image_file()])
    )
    assert "description" in response.context["form"].errors
    page = response.content.decode()
    assert "photo you attached is kept for this report: no need to attach it again" in page
    ids = held_ids(page)
    assert len(ids) == 1

    client.post("/cases/new/", new_case_data(world, held_photos=ids))

    assert Case.objects.get().photos.count() == 1


def test_the_purge_deletes_held_photos_past_their_hours_with_their_files(
    cast, settings, django_assert_num_queries, django_capture_on_commit_callbacks
):
    uploads = [image_file(), image_file("b.jpg")]
    old, recent = photos_hold(user=cast.caseworker, uploads=uploads)
    HeldPhoto.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(hours=settings.HELD_PHOTO_HOURS, minutes=1)
    )
    old_file = settings.MEDIA_ROOT / old.image.name

    # The expired rows, then one DELETE, in the savepoint that stands for its transaction.
    with django_assert_num_queries(4), django_capture_on_commit_callbacks(execute=True):
        purged = held_photos_purge()

    assert purged == 1
    assert list(HeldPhoto.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not old_file.exists()
    assert (settings.MEDIA_ROOT / recent.image.name).exists()
    # The beat's hourly task runs the same purge.
    assert settings.CELERY_BEAT_SCHEDULE["purge-held-photos"]["task"] == "cases.purge_held_photos"
    HeldPhoto.objects.update(created_at=timezone.now() - timedelta(days=2))
    assert tasks.purge_held_photos() == 1 and not HeldPhoto.objects.exists()


def test_a_fake_image_is_refused_and_no_case_is_created(client, cast, world):
    client.force_login(cast.caseworker)
    fake = SimpleUploadedFile("evil.jpg", b"<html>not an image</html>", content_type="image/jpeg")
    response = client.post("/cases/new/", new_case_data(world, photos=[fake]))
    assert response.status_code == 200
    assert "photos" in response.context["form"].errors
    assert not Case.objects.exists() and not CasePhoto.objects.exists()


def test_a_gif_is_refused_even_though_it_is_an_image(client, cast, world):
    client.force_login(cast.caseworker)
    gif = image_file("anim.gif", "GIF")
    response = client.post("/cases/new/", new_case_data(world, photos=[gif]))
    assert "photos" in response.context["form"].errors
    assert not Case.objects.exists()


def test_an_oversize_photo_is_refused(client, cast, world, monkeypatch):
    monkeypatch.setattr(photo_rules, "MAX_PHOTO_BYTES", 500)
    client.force_login(cast.caseworker)
    big = image_file(size=(400, 400))
    assert big.size > 500
    response = client.post("/cases/new/", new_case_data(world, photos=[big]))
    assert "10 MB" in str(response.context["form"].errors["photos"])
    assert not Case.objects.exists()


def test_more_than_five_photos_are_refused(client, cast, world):
    client.force_login(cast.caseworker)
    response = client.post(
        "/cases/new/", new_case_data(world, photos=[image_file(f"{i}.jpg") for i in range(6)])
    )
    assert "photos" in response.context["form"].errors
    assert not Case.objects.exists()


def test_adding_photos_later_cannot_pass_five_in_total(client, cast, world, report):
    case = report()
    client.force_login(cast.caseworker)
    url = reverse("cases:photos_add", args=[case.number])
    client.post(url, {"photos": [image_file(f"{i}.jpg") for i in range(4)]})
    assert case.photos.count() == 4
    client.post(url, {"photos": [image_file("5.jpg"), image_file("6.jpg")]})
    assert case.photos.count() == 4
    client.post(url, {"photos": [image_file("5.jpg")]})
    assert case.photos.count() == 5


def test_photos_are_served_only_to_those_who_may_see_the_case(client, cast, world, report):
    case = report()
    client.force_login(cast.caseworker)
    client.post(reverse("cases:photos_add", args=[case.number]), {"photos": [image_file()]})
    photo = case.photos.get()
    url = reverse("cases:photo", args=[case.number, photo.pk])
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    client.force_login(cast.south_caseworker)
    assert client.get(url).status_code == 404
    client.force_login(cast.other_liaison)
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302


def test_note_with_photo_is_added_without_touching_the_case_version(client, cast, report):
    case = report()
    version = case.version
    client.force_login(cast.caseworker)
    client.post(
        reverse("cases:note_add", args=[case.number]),
        {"text": "现场又多了几袋", "photos": [image_file()]},
    )
    case.refresh_from_db()
    assert case.version == version
    assert case.notes.get().text == "现场又多了几袋"
    assert case.photos.count() == 1
    page = client.get(reverse("cases:detail", args=[case.number])).content.decode()
    assert "现场又多了几袋" in page


def test_a_failed_save_leaves_no_orphan_files(cast, report, settings, monkeypatch):
    case = report()

    def broken_save(self, *args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(CasePhoto, "save", broken_save)
    with pytest.raises(RuntimeError):
        case_add_photos(case=case, uploaded_by=cast.caseworker, uploads=[image_file()])
    stored = list((settings.MEDIA_ROOT).rglob("*.jpg")) if settings.MEDIA_ROOT.exists() else []
    assert stored == []


def test_only_the_uploader_can_hand_held_photos_to_a_case(cast, report):
    held = photos_hold(user=cast.caseworker, uploads=[image_file()])
    case = report()

    with pytest.raises(ValidationError, match="photos kept for this report are gone"):
        case_add_photos(case=case, uploaded_by=cast.dispatcher, held=held)

    case_add_photos(case=case, uploaded_by=cast.caseworker, held=held)
    assert case.photos.count() == 1 and not HeldPhoto.objects.exists()


def test_a_jpeg_comment_or_png_text_is_not_kept_in_the_stored_photo():
    jpeg, png = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (20, 20), "red").save(jpeg, "JPEG", comment=b"SECRETCOMMENT")
    from PIL.PngImagePlugin import PngInfo

    text = PngInfo()
    text.add_text("Comment", "SECRETTEXT")
    Image.new("RGB", (20, 20), "red").save(png, "PNG", pnginfo=text)
    for name, data, secret in (("a.jpg", jpeg, b"SECRETCOMMENT"), ("b.png", png, b"SECRETTEXT")):
        assert secret in data.getvalue()
        clean = photo_rules.clean_photo(SimpleUploadedFile(name, data.getvalue()))
        assert secret not in clean.content


def test_each_photo_says_who_took_it_so_the_fix_stands_apart_from_the_report(
    client, cast, world, report, django_assert_max_num_queries
):
    from cases.services import workflow
    from cases.services.liaison import case_resolve_with_photos

    case = report()
    client.force_login(cast.caseworker)
    client.post(reverse("cases:photos_add", args=[case.number]), {"photos": [image_file()]})
    workflow.case_accept(case=case, actor=cast.liaison)
    with django_assert_max_num_queries(40) as one_photo:
        client.get(reverse("cases:detail", args=[case.number]))
    case_resolve_with_photos(
        case=case, actor=cast.liaison, note="已清理", photos=[image_file("fixed.jpg")]
    )
    # The uploaders come with the photos: a second photo by another person, no more queries.
    with django_assert_max_num_queries(len(one_photo.captured_queries)):
        page = client.get(reverse("cases:detail", args=[case.number])).content.decode()
    captions = re.findall(r'<figcaption class="muted">([^·]*)·', page)
    assert [caption.strip() for caption in captions] == [
        str(cast.caseworker),
        f"{cast.liaison} ({world.urban.name})",
    ]


def test_a_liaison_resolving_a_case_with_five_photos_can_still_attach_the_fix(client, cast, report):
    from django.contrib.messages import get_messages

    from cases.models import State
    from cases.services import workflow

    case = report()
    client.force_login(cast.caseworker)
    client.post(
        reverse("cases:photos_add", args=[case.number]),
        {"photos": [image_file(f"{i}.jpg") for i in range(5)]},
    )
    workflow.case_accept(case=case, actor=cast.liaison)
    case.refresh_from_db()
    client.force_login(cast.liaison)
    url = reverse("admin:cases_case_act", args=[case.pk, "resolve"])
    too_many = [image_file(f"fix-{i}.jpg") for i in range(6)]
    response = client.post(url, {"version": case.version, "note": "已清理", "photos": too_many})
    # The departments' allowance is five too, and the refusal says so.
    text = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "A case can have at most 5 photos." in text
    response = client.post(
        url, {"version": case.version, "note": "已清理", "photos": [image_file("fixed.jpg")]}
    )
    case.refresh_from_db()
    assert case.state == State.RESOLVED
    assert case.photos.filter(uploaded_by=cast.liaison).count() == 1
    assert case.photos.count() == 6


def test_a_refusal_for_photos_too_many_says_how_many_can_still_go_in(client, cast, report):
    case = report()
    client.force_login(cast.caseworker)
    url = reverse("cases:photos_add", args=[case.number])
    client.post(url, {"photos": [image_file(f"{i}.jpg") for i in range(4)]})
    page = client.post(url, {"photos": [image_file("a.jpg"), image_file("b.jpg")]}, follow=True)
    assert "Only 1 more photo can be added (at most 5)." in page.text
    client.post(url, {"photos": [image_file("c.jpg")]})
    page = client.post(url, {"photos": [image_file("d.jpg")]}, follow=True)
    assert "No more photos can be added: all 5 are used." in page.text
    assert case.photos.count() == 5


def test_the_add_photos_form_stays_while_the_viewers_side_has_room(client, cast, report):
    from cases.services import workflow

    case = report()
    client.force_login(cast.caseworker)
    url = reverse("cases:photos_add", args=[case.number])
    client.post(url, {"photos": [image_file(f"{i}.jpg") for i in range(5)]})
    detail = reverse("cases:detail", args=[case.number])
    form = f'action="{url}"'
    assert form not in client.get(detail).text  # the problem's five are taken
    workflow.case_accept(case=case, actor=cast.liaison)
    client.force_login(cast.liaison)
    page = client.get(detail)
    assert page.context["photo_room"] == 5 and form in page.text  # the fix's five are free


@pytest.mark.parametrize("way", ["web form", "Open311"])
def test_photos_are_decoded_before_the_report_takes_its_number(
    client, cast, world, api_key, monkeypatch, way
):
    """The year's number counter stays locked until the report commits, and every other
    report waits for it: the slow part of a report with photos (decoding and re-encoding
    them) is done before, over the web form and Open311 alike."""
    from django.db import connection

    from cases.models import CaseNumberCounter

    counter_locked_while_decoding = []
    decode = photo_rules.clean_photo

    def watched(upload):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks"
                " WHERE pid = pg_backend_pid() AND relation = %s::regclass",
                [CaseNumberCounter._meta.db_table],
            )
            counter_locked_while_decoding.append(cursor.fetchone()[0] > 0)
        return decode(upload)

    monkeypatch.setattr(photo_rules, "clean_photo", watched)
    if way == "web form":
        client.force_login(cast.caseworker)
        response = client.post("/cases/new/", new_case_data(world, photos=[image_file()]))
        assert response.status_code == 302
    else:
        response = post_request(
            client, api_key[1], service_code="ENV-RUBBISH", address_id="N-01", media=image_file()
        )
        assert response.status_code == 200
    assert Case.objects.get().photos.count() == 1
    # Decoded once: the web form's check is what the report stores.
    assert counter_locked_while_decoding == [False]


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims its size and holds no pixels (as a decompression bomb's header)."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [7_000, 60_000])  # past our limit; past Pillow's as well
def test_a_photo_of_too_many_pixels_is_refused_as_such(side):
    """Not "not a JPEG, PNG or WebP image": it is one, too big to take in."""
    if side < 10_000:
        buffer = io.BytesIO()
        Image.new("1", (side, side)).save(buffer, "PNG")
        data = buffer.getvalue()
    else:
        data = png_header_only(side, side)
    with pytest.raises(ValidationError) as refused:
        photo_rules.clean_photo(SimpleUploadedFile("big.png", data, content_type="image/png"))
    assert refused.value.messages == ["big.png has too many pixels."]


SAME_PICTURE = (10, 120, 200)


def test_the_same_photo_attached_twice_to_a_report_is_kept_once(client, cast, world):
    client.force_login(cast.caseworker)
    twice = [
        image_file("IMG_1.jpg", colour=SAME_PICTURE),
        image_file("IMG_1 (1).jpg", colour=SAME_PICTURE),
    ]

    response = client.post(
        "/cases/new/", new_case_data(world, photos=[*twice, image_file("other.jpg")]), follow=True
    )

    assert Case.objects.get().photos.count() == 2
    assert "1 copy of a photo attached already was left out: nothing is lost." in response.text


def test_a_kept_photo_attached_again_goes_with_the_report_once(client, cast, world, report):
    """The page shown again keeps the photo; attached again all the same, it is one photo,
    on that page and in the case."""
    client.force_login(cast.caseworker)
    response = stop_at_duplicates(client, world, report, [image_file(colour=SAME_PICTURE)])
    ids = held_ids(response.content.decode())

    again = new_case_data(world, held_photos=ids, photos=[image_file("b.jpg", colour=SAME_PICTURE)])
    response = client.post("/cases/new/", again)  # stopped at the duplicates again
    page = response.content.decode()
    assert len(held_ids(page)) == 1
    assert "1 copy of a photo attached already was left out: nothing is lost." in page

    response = client.post(
        "/cases/new/",
        new_case_data(
            world,
            confirm_new="on",
            held_photos=ids,
            photos=[image_file("c.jpg", colour=SAME_PICTURE)],
        ),
        follow=True,
    )
    assert Case.objects.latest("pk").photos.count() == 1
    assert "1 copy of a photo attached already was left out: nothing is lost." in response.text


def resolved_with_a_copy_of_one_photo(client, cast, report, **headers):
    """A liaison's resolve in the admin with one fix photo attached twice: the case and the
    messages the admin gave."""
    from django.contrib.messages import get_messages

    from cases.services import workflow

    case = report()
    workflow.case_accept(case=case, actor=cast.liaison)
    case.refresh_from_db()
    client.force_login(cast.liaison)
    response = client.post(
        reverse("admin:cases_case_act", args=[case.pk, "resolve"]),
        {
            "version": case.version,
            "note": "已清理",
            "photos": [
                image_file("fix.jpg", colour=SAME_PICTURE),
                image_file("fix-copy.jpg", colour=SAME_PICTURE),
            ],
        },
        **headers,
    )
    return case, [str(m) for m in get_messages(response.wsgi_request)]


def test_the_same_fix_photo_twice_in_a_liaisons_resolve_is_kept_once(client, cast, report):
    from cases.models import State

    case, told = resolved_with_a_copy_of_one_photo(client, cast, report)

    case.refresh_from_db()
    assert case.state == State.RESOLVED
    assert case.photos.count() == 1
    text = " ".join(told)
    assert "1 copy of a photo attached already was left out: nothing is lost." in text


def test_a_liaisons_resolve_with_copies_says_so_in_one_chinese_text(client, cast, report):
    """The resolve's outcome and the copies left out are two sentences of one message:
    joined the Chinese way, with no space after the first one's full stop."""
    case, told = resolved_with_a_copy_of_one_photo(
        client, cast, report, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert (
        f"案件 {case.number}：已办结。有 1 张照片重复添加，只保留一份：没有丢失任何照片。" in told
    )


def test_the_same_photo_twice_on_the_case_page_is_kept_once(client, cast, report):
    case = report()
    client.force_login(cast.caseworker)
    twice = [image_file("a.jpg", colour=SAME_PICTURE), image_file("b.jpg", colour=SAME_PICTURE)]

    page = client.post(
        reverse("cases:photos_add", args=[case.number]),
        {"photos": [*twice, image_file("c.jpg")]},
        follow=True,
    )

    assert case.photos.count() == 2
    assert "1 copy of a photo attached already was left out: nothing is lost." in page.text


def test_six_copies_of_one_photo_make_a_report_with_that_photo_once(client, cast, world):
    """The allowance counts pictures, as they are stored: six copies of one are one photo."""
    client.force_login(cast.caseworker)
    copies = [image_file(f"IMG_{i}.jpg", colour=SAME_PICTURE) for i in range(6)]

    response = client.post("/cases/new/", new_case_data(world, photos=copies), follow=True)

    assert Case.objects.get().photos.count() == 1
    assert "5 copies of photos attached already were left out: nothing is lost." in response.text


def test_six_copies_stopped_at_the_duplicates_are_held_once(client, cast, world, report):
    client.force_login(cast.caseworker)
    copies = [image_file(f"IMG_{i}.jpg", colour=SAME_PICTURE) for i in range(6)]

    page = stop_at_duplicates(client, world, report, copies).content.decode()

    assert len(held_ids(page)) == 1 and HeldPhoto.objects.count() == 1


def test_the_five_kept_photos_attached_again_go_with_the_report_once(client, cast, world, report):
    """The page shown again keeps five photos; the caseworker, unsure, picks the same five
    again: still five pictures, so the report goes through with each once."""
    client.force_login(cast.caseworker)
    five = [image_file(f"{i}.jpg") for i in range(5)]
    ids = held_ids(stop_at_duplicates(client, world, report, five).content.decode())
    assert len(ids) == 5

    def again():
        return [image_file(f"{i}.jpg") for i in range(5)]

    response = client.post("/cases/new/", new_case_data(world, held_photos=ids, photos=again()))
    page = response.content.decode()  # stopped at the duplicates again: nothing refused
    assert not response.context["form"].errors
    assert sorted(held_ids(page)) == sorted(ids)

    response = client.post(
        "/cases/new/",
        new_case_data(world, confirm_new="on", held_photos=ids, photos=again()),
        follow=True,
    )
    assert Case.objects.latest("pk").photos.count() == 5
    assert "5 copies of photos attached already were left out: nothing is lost." in response.text


def test_copies_of_photos_a_case_page_adds_count_once_against_its_room(client, cast, report):
    case = report()
    client.force_login(cast.caseworker)
    url = reverse("cases:photos_add", args=[case.number])
    client.post(url, {"photos": [image_file(f"{i}.jpg") for i in range(4)]})

    client.post(url, {"photos": [image_file("5.jpg", colour=SAME_PICTURE) for _ in range(3)]})

    assert case.photos.count() == 5


def test_an_open311_request_with_copies_of_one_photo_is_taken(client, world, api_key):
    copies = [image_file(f"IMG_{i}.jpg", colour=SAME_PICTURE) for i in range(6)]

    response = post_request(
        client, api_key[1], service_code="ENV-RUBBISH", address_id="N-01", media=copies
    )

    assert response.status_code == 200, response.content
    assert Case.objects.get().photos.count() == 1


def test_a_batch_far_past_five_is_refused_before_any_file_is_decoded(monkeypatch):
    decoded = []
    clean_photo = photo_rules.clean_photo
    monkeypatch.setattr(
        photo_rules, "clean_photo", lambda upload: decoded.append(upload) or clean_photo(upload)
    )
    copies = [image_file(f"IMG_{i}.jpg", colour=SAME_PICTURE) for i in range(11)]

    with pytest.raises(ValidationError) as refused:
        photo_rules.clean_photos(copies)

    assert refused.value.messages == [
        "A case can have at most 5 photos. Copies of the same picture are left out, and at"
        " most 10 files can be attached at once."
    ]
    assert not decoded


def test_a_report_of_too_many_files_is_told_the_whole_rule_at_once(client, cast, world):
    """It was told "at most 10 files", then, with 6 to 10 pictures, "at most 5 photos"."""
    client.force_login(cast.caseworker)
    photos = [image_file(f"{i}.jpg") for i in range(11)]

    response = client.post("/cases/new/", new_case_data(world, photos=photos))

    assert response.context["form"].errors["photos"] == [
        "A case can have at most 5 photos. Copies of the same picture are left out, and at"
        " most 10 files can be attached at once."
    ]
    assert not Case.objects.exists()
    for photo in photos:
        photo.seek(0)
    response = client.post(
        "/cases/new/", new_case_data(world, photos=photos), HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert response.context["form"].errors["photos"] == [
        "一个案件最多 5 张照片。同一张图片的副本只保留一份，一次最多可附加 10 个文件。"
    ]


def test_too_many_files_on_the_case_page_are_told_the_room_left_and_the_whole_rule(
    client, cast, report
):
    case = report()
    client.force_login(cast.caseworker)
    url = reverse("cases:photos_add", args=[case.number])
    client.post(url, {"photos": [image_file(f"{i}.jpg") for i in range(3)]})

    page = client.post(url, {"photos": [image_file(f"{i}.png") for i in range(11)]}, follow=True)

    assert (
        "Only 2 more photos can be added (at most 5). Copies of the same picture are left out,"
        " and at most 10 files can be attached at once."
    ) in page.text
    assert case.photos.count() == 3


def test_decoding_stops_at_the_first_picture_too_many(monkeypatch):
    decoded = []
    clean_photo = photo_rules.clean_photo
    monkeypatch.setattr(
        photo_rules, "clean_photo", lambda upload: decoded.append(upload) or clean_photo(upload)
    )
    photos = [image_file(f"{i}.jpg") for i in range(8)]

    with pytest.raises(ValidationError) as refused:
        photo_rules.clean_photos(photos, already=3)

    assert refused.value.messages == ["Only 2 more photos can be added (at most 5)."]
    assert len(decoded) == 3


def test_the_same_photo_twice_on_a_note_is_kept_once_and_the_page_says_so(client, cast, report):
    case = report()
    client.force_login(cast.caseworker)
    twice = [image_file("a.jpg", colour=SAME_PICTURE), image_file("b.jpg", colour=SAME_PICTURE)]

    page = client.post(
        reverse("cases:note_add", args=[case.number]),
        {"text": "又拍了一张", "photos": [*twice, image_file("c.jpg")]},
        follow=True,
    )

    assert case.notes.get().text == "又拍了一张"
    assert case.photos.count() == 2
    assert "1 copy of a photo attached already was left out: nothing is lost." in page.text


def test_a_photo_the_case_has_already_attached_again_is_left_out(client, cast, report):
    """Attached again (the first upload seemed not to take): kept once, and told so, on the
    case page, with a note and in a liaison's resolve; it takes no room either."""
    from django.contrib.messages import get_messages

    from cases.services import workflow

    case = report()
    client.force_login(cast.caseworker)
    client.post(
        reverse("cases:photos_add", args=[case.number]),
        {
            "photos": [image_file(f"{i}.jpg") for i in range(4)]
            + [image_file("same.jpg", colour=SAME_PICTURE)]
        },
        follow=True,
    )
    assert case.photos.count() == 5

    again = client.post(
        reverse("cases:photos_add", args=[case.number]),
        {"photos": [image_file("same-again.jpg", colour=SAME_PICTURE)]},
        follow=True,
    )
    assert case.photos.count() == 5
    told = [str(m) for m in get_messages(again.wsgi_request)]
    assert told == ["1 copy of a photo attached already was left out: nothing is lost."]

    noted = client.post(
        reverse("cases:note_add", args=[case.number]),
        {"text": "再拍一张", "photos": [image_file("same-3.jpg", colour=SAME_PICTURE)]},
        follow=True,
    )
    assert case.photos.count() == 5 and case.notes.count() == 1
    assert "1 copy of a photo attached already was left out: nothing is lost." in noted.text

    # The fix's photos are the departments' own: the same picture starts their five.
    workflow.case_accept(case=case, actor=cast.liaison)
    case.refresh_from_db()
    client.force_login(cast.liaison)
    client.post(
        reverse("admin:cases_case_act", args=[case.pk, "resolve"]),
        {
            "version": case.version,
            "note": "已清理",
            "photos": [image_file("fix.jpg", colour=SAME_PICTURE)],
        },
    )
    assert case.photos.count() == 6
