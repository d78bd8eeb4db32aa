"""Photo rules (cases/services/photos.py) through the pages: type by content, 10 MB, at most
5, EXIF stripped, and served only to those who may see the case."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from cases.models import Case, CasePhoto
from cases.services import photos as photo_rules


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def image_file(name="photo.jpg", fmt="JPEG", gps=False, size=(40, 30)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    image = Image.new("RGB", size, (200, 30, 30))
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


def test_the_duplicate_check_says_the_photos_must_be_attached_again(client, cast, world, report):
    """A browser cannot be handed files back: the caseworker stopped by the duplicate
    check is told the photos were not kept, rather than losing them unseen."""
    report()
    client.force_login(cast.caseworker)
    photos = [image_file(), image_file("b.png", "PNG")]
    response = client.post("/cases/new/", new_case_data(world, photos=photos))
    assert response.context["duplicates"]
    assert not CasePhoto.objects.exists()
    page = response.content.decode()
    assert 'id="photos-not-kept"' in page and "2 photos you attached were not kept" in page
    without_photos = client.post("/cases/new/", new_case_data(world))
    assert 'id="photos-not-kept"' not in without_photos.content.decode()


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
        photo_rules.case_add_photos(case=case, uploaded_by=cast.caseworker, uploads=[image_file()])
    stored = list((settings.MEDIA_ROOT).rglob("*.jpg")) if settings.MEDIA_ROOT.exists() else []
    assert stored == []
