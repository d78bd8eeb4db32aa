"""Photos of a case: the upload rules in one place, for the web form and the Open311 API.

A photo is accepted only when Pillow can decode it as JPEG, PNG or WebP (the file's
content decides, not its name or declared type), and it is at most 10 MB. A case keeps at
most 5 photos of the problem (the report's, the township's notes, Open311's) and 5 of its
departments (the fix, as SPEC §1 has liaisons resolve "with a note and photos"): a case
reported with 5 photos can still show its fix. Every accepted photo is re-encoded from its
pixels, which drops EXIF (with any GPS position) and anything else hidden in the file; the
same picture attached twice at once (any name, any EXIF), or again to a case that has it,
is stored once (`distinct_photos`, `case_add_photos`).
"""

import hashlib
import io
import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from PIL import Image, ImageOps, UnidentifiedImageError

from cases.models import TERMINAL_STATES, Case, CasePhoto, HeldPhoto, State
from cases.services.intake import case_report
from departments.models import User
from departments.wording import join_sentences

MAX_PHOTOS = 5
MAX_PHOTO_BYTES = 10 * 1024 * 1024
# Files one batch may carry. Copies of a picture count once against MAX_PHOTOS, but each
# file is decoded (10 MB, 40 Mpx at most) before it is known to be a copy: twice the
# allowance takes the five photos kept for a report attached again beside themselves.
MAX_UPLOADS = 2 * MAX_PHOTOS
# Decoded pixels: a small file can still be a decompression bomb.
MAX_PIXELS = 40_000_000
ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


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


class CleanPhoto:
    """A validated, re-encoded photo ready to be stored."""

    def __init__(self, content: bytes, image_format: str, name: str, size=(0, 0)):
        self.content = content
        self.width, self.height = size
        self.format = image_format
        self.content_type = ALLOWED_FORMATS[image_format]
        self.name = name
        # Re-encoding is deterministic: the same picture attached twice, under any name and
        # with any EXIF, comes out as the same bytes.
        self.digest = hashlib.sha256(content).hexdigest()


def distinct_photos(photos: Iterable[CleanPhoto]) -> list[CleanPhoto]:
    """`photos` with each picture once (the first of its copies), in their order."""
    seen, kept = set(), []
    for photo in photos:
        if photo.digest not in seen:
            seen.add(photo.digest)
            kept.append(photo)
    return kept


def copies_left_out(count: int) -> str:
    """What to tell whoever attached the same photo more than once: it is kept once."""
    return ngettext(
        "%(count)d copy of a photo attached already was left out: nothing is lost.",
        "%(count)d copies of photos attached already were left out: nothing is lost.",
        count,
    ) % {"count": count}


def clean_photo(upload) -> CleanPhoto:
    """Check one uploaded file and return it re-encoded without metadata.

    Raises ValidationError with a message for the person who uploaded it.
    """
    name = getattr(upload, "name", "") or "photo"
    size = getattr(upload, "size", None)
    if size is None:
        upload.seek(0, io.SEEK_END)
        size = upload.tell()
    if size > MAX_PHOTO_BYTES:
        raise ValidationError(
            _("%(name)s is larger than 10 MB.") % {"name": name}, code="photo_too_large"
        )
    upload.seek(0)
    data = upload.read()
    try:
        with Image.open(io.BytesIO(data)) as probe:
            image_format = probe.format
            probe.verify()  # checks the file's structure without decoding all pixels
        if image_format not in ALLOWED_FORMATS:
            raise ValidationError(
                _("%(name)s is not a JPEG, PNG or WebP image.") % {"name": name},
                code="photo_type",
            )
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ValidationError(
                    _("%(name)s has too many pixels.") % {"name": name}, code="photo_too_large"
                )
            # Apply the EXIF orientation to the pixels before the EXIF is dropped.
            image = ImageOps.exif_transpose(image)
            image.load()
            if image_format == "JPEG":
                image = image.convert("RGB")
            # Pillow writes back what it read beside the pixels (a JPEG comment, say): only
            # a palette's transparency is part of the picture.
            image.info = {k: v for k, v in image.info.items() if k == "transparency"}
            out = io.BytesIO()
            if image_format == "JPEG":
                image.save(out, "JPEG", quality=88, optimize=True)
            elif image_format == "PNG":
                image.save(out, "PNG", optimize=True)
            else:
                image.save(out, "WEBP", quality=88)
    except ValidationError:
        raise
    except Image.DecompressionBombError:
        # Pillow's own limit, far above ours, refuses such a file before we can look.
        raise ValidationError(
            _("%(name)s has too many pixels.") % {"name": name}, code="photo_too_large"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ValidationError(
            _("%(name)s is not a JPEG, PNG or WebP image.") % {"name": name}, code="photo_type"
        ) from None
    return CleanPhoto(
        out.getvalue(),
        image_format,
        f"{uuid.uuid4().hex}.{EXTENSIONS[image_format]}",
        size=image.size,
    )


def too_many_photos(already: int) -> str:
    """Why a batch was refused, with the room left: "at most 5" alone left a liaison
    guessing how many of the fix's photos would go in."""
    left = max(0, MAX_PHOTOS - already)
    if not already:
        return _("A case can have at most %(max)d photos.") % {"max": MAX_PHOTOS}
    if not left:
        return _("No more photos can be added: all %(max)d are used.") % {"max": MAX_PHOTOS}
    return ngettext(
        "Only %(left)d more photo can be added (at most %(max)d).",
        "Only %(left)d more photos can be added (at most %(max)d).",
        left,
    ) % {"left": left, "max": MAX_PHOTOS}


def too_many_files(already: int) -> str:
    """Why a batch of more than MAX_UPLOADS files was refused, with the whole rule: "at
    most 10 files" alone sent the user back with 6 to 10 pictures, to be told "at most 5"."""
    return join_sentences(
        [
            too_many_photos(already),
            _(
                "Copies of the same picture are left out, and at most %(max)d files can be"
                " attached at once."
            )
            % {"max": MAX_UPLOADS},
        ]
    )


def clean_photos(
    uploads: Sequence,
    *,
    already: int = 0,
    beside: Sequence[CleanPhoto] = (),
    stored: Collection[str] = (),
) -> list[CleanPhoto]:
    """Check a batch of uploads for a case that already has `already` photos (of the same
    side: `photos_of_the_same_side`), to go with the photos `beside` them (held or checked
    already). Raises ValidationError on a bad file or on pictures too many (`clean_each_photo`)."""
    cleaned, errors = clean_each_photo(uploads, already=already, beside=beside, stored=stored)
    if errors:
        raise ValidationError(errors)
    return cleaned


def check_photo_count(count: int, *, already: int = 0) -> None:
    """Raise ValidationError when `count` more photos would pass MAX_PHOTOS."""
    if already + count > MAX_PHOTOS:
        raise ValidationError(too_many_photos(already), code="too_many_photos")


def clean_each_photo(
    uploads: Sequence,
    *,
    already: int = 0,
    beside: Sequence[CleanPhoto] = (),
    stored: Collection[str] = (),
) -> tuple[list[CleanPhoto], list[ValidationError]]:
    """Each upload checked on its own: those that pass, re-encoded, and the errors of the
    others (a form keeps the good photos of a batch with one bad file).

    The allowance counts pictures, as they are stored: the copies of one, among the uploads
    and the photos `beside` them, count once (and share one content in memory), and a copy
    of one of the `stored` (the digests of the case's photos, among `already`) not at all. Raises
    ValidationError when the pictures would pass MAX_PHOTOS with the `already` stored: at
    once for more than MAX_UPLOADS files, else at the first picture too many, so that no
    more than MAX_PHOTOS + 1 re-encoded pictures are ever kept."""
    pictures = {photo.digest: photo for photo in beside}
    # With the pictures beside the uploads: the refusal says how many more fit.
    already += len(pictures)
    check_photo_count(0, already=already)
    if len(uploads) > MAX_UPLOADS:
        raise ValidationError(too_many_files(already), code="too_many_photos")
    errors, cleaned, new = [], [], 0
    for upload in uploads:
        try:
            photo = clean_photo(upload)
        except ValidationError as error:
            errors.extend(error.error_list)
            continue
        first = pictures.setdefault(photo.digest, photo)
        if first is photo and photo.digest not in stored:
            new += 1
            check_photo_count(new, already=already)
        else:
            photo.content = first.content
        cleaned.append(photo)
    return cleaned, errors


def _stored_digests(photos) -> dict[str, int]:
    """The digest of each stored photo's file, with how many photos have it (one, unless
    stored before copies were told apart); a file gone from storage counts on its own."""
    digests: dict[str, int] = {}
    for photo in photos.only("pk", "image"):
        try:
            with photo.image.open("rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
        except FileNotFoundError:
            digest = f"missing:{photo.pk}"
        digests[digest] = digests.get(digest, 0) + 1
    return digests


def photos_new_to(case: Case, photos: Sequence[CleanPhoto]) -> list[CleanPhoto]:
    """Of `photos` (a report's form sent again), the pictures `case` does not have: a form
    sent again with other photos is another report, as one with other words is."""
    if not photos:
        return []
    stored = _stored_digests(CasePhoto.objects.filter(case=case))
    return [photo for photo in photos if photo.digest not in stored]


def _store(records_and_photos) -> None:
    """Write each photo's file and save its row; on any failure, delete the files written
    (the rows roll back with the caller's transaction, the files must not outlive them)."""
    written = []
    try:
        for record, photo in records_and_photos:
            record.content_type = photo.content_type
            record.width, record.height = photo.width, photo.height
            record.image.save(photo.name, ContentFile(photo.content), save=False)
            written.append((record.image.storage, record.image.name))
            record.save()
    except Exception:
        for storage, name in written:
            storage.delete(name)
        raise


def _delete_files_on_commit(files) -> None:
    """Delete stored files once the rows that named them are gone for good."""

    def delete():
        for storage, name in files:
            storage.delete(name)

    transaction.on_commit(delete)


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
    _store(zip(held, photos, strict=True))
    return held


def is_departments_photo(uploaded_by: User | None) -> bool:
    """Whether a photo by `uploaded_by` is of the departments' side (taken by liaisons: the
    fix) rather than the problem's (everybody else's, and what came with a report)."""
    return uploaded_by is not None and uploaded_by.role == User.Role.LIAISON


def photos_of_the_same_side(case: Case, uploaded_by: User | None):
    """The case's photos that count against the allowance of `uploaded_by`'s side."""
    photos = CasePhoto.objects.filter(case=case)
    if is_departments_photo(uploaded_by):
        return photos.filter(uploaded_by__role=User.Role.LIAISON)
    # A photo sent with an Open311 report has no uploader: the problem's (exclude keeps it).
    return photos.exclude(uploaded_by__role=User.Role.LIAISON)


def photo_room(case: Case, uploaded_by: User) -> int:
    """How many more photos `uploaded_by` may add to `case`, counted in its photos as
    loaded (with their uploaders) for its page: no query of its own. 0 once the case is
    closed or cancelled."""
    if case.state in TERMINAL_STATES:
        return 0
    side = is_departments_photo(uploaded_by)
    taken = sum(1 for photo in case.photos.all() if is_departments_photo(photo.uploaded_by) == side)
    return max(0, MAX_PHOTOS - taken)


@transaction.atomic
def case_add_photos(
    *,
    case: Case,
    uploaded_by: User | None,
    uploads: Sequence = (),
    held: Sequence = (),
    cleaned: Sequence[CleanPhoto] = (),
) -> list[CasePhoto]:
    """Validate and store photos of `case`, the new `uploads`, the `held` photos of
    `photos_hold` (which it takes over) and those `cleaned` already (`clean_photos`); all
    of them or, on any bad file, none. A picture given more than once is stored, and
    counted against MAX_PHOTOS, once: fewer photos come back than were given then
    (`copies_left_out`).

    The case row is locked while counting so two uploads at once cannot pass 5 together;
    the departments' photos are counted apart from the problem's. A closed or cancelled
    case takes none (SPEC §2: terminal), read from the locked row: a case closed after
    its page was shown refuses too.
    """
    state = (
        Case.objects.select_for_update().filter(pk=case.pk).values_list("state", flat=True).get()
    )
    if state in TERMINAL_STATES:
        raise ValidationError(
            _("Case %(number)s is %(state)s: no photos can be added to it any more.")
            % {"number": case.number, "state": State(state).label},
            code="case_finished",
        )
    if held:
        # Only the uploader's, locked so that the purge skips them.
        wanted = {photo.pk for photo in held}
        held = list(
            HeldPhoto.objects.select_for_update().filter(pk__in=wanted, held_by=uploaded_by)
        )
        if len(held) != len(wanted):
            raise ValidationError(HELD_PHOTOS_GONE, code="held_photos_gone")
    # A picture the case has already (attached again: the page did not seem to take it)
    # is a copy too, and takes no room: files are stored as re-encoded, byte for byte.
    on_case = _stored_digests(photos_of_the_same_side(case, uploaded_by))
    already = sum(on_case.values())
    beside = [*cleaned, *held_as_cleaned(held)]
    cleaned = [
        photo
        for photo in distinct_photos(
            [*clean_photos(uploads, already=already, beside=beside, stored=on_case), *beside]
        )
        if photo.digest not in on_case
    ]
    photos = [CasePhoto(case=case, uploaded_by=uploaded_by) for _ in cleaned]
    _store(zip(photos, cleaned, strict=True))
    if held:
        HeldPhoto.objects.filter(pk__in=[photo.pk for photo in held]).delete()
        _delete_files_on_commit([(photo.image.storage, photo.image.name) for photo in held])
    return photos


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
        _delete_files_on_commit([(storage, name) for _pk, name in expired])
    return len(expired)


@transaction.atomic
def case_report_with_photos(
    *,
    photos: Sequence = (),
    cleaned_photos: Sequence[CleanPhoto] = (),
    held_photos: Sequence = (),
    **report,
) -> Case:
    """Report a case (cases/services/intake.py `case_report`) and store its photos, new
    (`photos` uploaded, or `cleaned_photos` checked already by the form) and held, in the
    same transaction: a bad photo leaves no case behind."""
    # Decoded and re-encoded before the report takes its number: the year's counter stays
    # locked until commit, and every other report waits for it meanwhile (intake.py).
    beside = [*cleaned_photos, *held_as_cleaned(held_photos)]
    cleaned = [*cleaned_photos, *clean_photos(photos, beside=beside)]
    case = case_report(**report)
    if (cleaned or held_photos) and not case.is_replay:
        case_add_photos(
            case=case, uploaded_by=report.get("reporter"), cleaned=cleaned, held=held_photos
        )
    return case
