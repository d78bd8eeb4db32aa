"""Photos held for a report while its page is shown again (possible duplicates, or
another field to correct): checked as for a case and kept for HELD_PHOTO_HOURS, then
taken over by the report (`photos.case_add_photos`) or forgotten (`held_photos_purge`).
"""

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import ngettext

from cases.models import HeldPhoto
from cases.services.photo_checks import (
    ALLOWED_FORMATS,
    EXTENSIONS,
    CleanPhoto,
    clean_photos,
    distinct_photos,
)
from cases.services.photo_files import delete_files_on_commit, store_photos
from departments.models import User


def _held_photos_gone() -> str:
    hours = settings.HELD_PHOTO_HOURS
    return ngettext(
        "The photos kept for this report are gone (they are kept for %(hours)d hour): "
        "attach them again.",
        "The photos kept for this report are gone (they are kept for %(hours)d hours): "
        "attach them again.",
        hours,
    ) % {"hours": hours}


# Lazy: a form's error message, read in the request's language and with today's setting.
HELD_PHOTOS_GONE = lazy(_held_photos_gone, str)()


def _clean_photo_of(held: HeldPhoto) -> CleanPhoto:
    """A held photo as a fresh CleanPhoto: it was checked and re-encoded when held."""
    image_format = next(f for f, mime in ALLOWED_FORMATS.items() if mime == held.content_type)
    with held.image.open("rb") as handle:
        content = handle.read()
    return CleanPhoto(
        content,
        image_format,
        f"{uuid.uuid4().hex}.{EXTENSIONS[image_format]}",
        size=(held.width, held.height),
    )


def held_as_cleaned(held: Iterable[HeldPhoto]) -> list[CleanPhoto]:
    """The `held` photos as CleanPhotos, to count and store with a batch (`clean_each_photo`)."""
    return [_clean_photo_of(photo) for photo in held]


@transaction.atomic
def photos_hold(
    *,
    user: User,
    uploads: Sequence = (),
    cleaned: Sequence[CleanPhoto] = (),
    beside: Sequence[HeldPhoto] = (),
) -> list[HeldPhoto]:
    """Check and keep `uploads` (and the photos `cleaned` already) for `user`'s report while
    the page is shown again: possible duplicates, or another field to correct (at most
    MAX_PHOTOS, each checked as for a case), each picture once, and none that is among the
    `beside` photos held already. Raises ValidationError like `clean_photos`."""
    carried = held_as_cleaned(beside)
    kept = {photo.digest for photo in carried}
    new = clean_photos(uploads, beside=[*carried, *cleaned])
    photos = [photo for photo in distinct_photos([*cleaned, *new]) if photo.digest not in kept]
    held = [HeldPhoto(held_by=user) for _ in photos]
    store_photos(zip(held, photos, strict=True))
    return held


def held_photos_purge(*, now: datetime | None = None) -> int:
    """Forget held photos older than HELD_PHOTO_HOURS, rows and files (the beat runs it
    hourly): their caseworker left the duplicate screen. Rows a report is taking over at
    this moment are skipped. Returns how many went."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.HELD_PHOTO_HOURS)
    with transaction.atomic():
        expired = list(
            HeldPhoto.objects.select_for_update(skip_locked=True)
            .filter(created_at__lt=cutoff)
            .values_list("pk", "image")
        )
        HeldPhoto.objects.filter(pk__in=[pk for pk, _name in expired]).delete()
        storage = HeldPhoto._meta.get_field("image").storage
        delete_files_on_commit([(storage, name) for _pk, name in expired])
    return len(expired)
