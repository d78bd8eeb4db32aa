"""Photos of a case: the upload rules in one place, for the web form and the Open311 API.

A photo is accepted only when Pillow can decode it as JPEG, PNG or WebP (the file's
content decides, not its name or declared type), it is at most 10 MB, and the case keeps
at most 5. Every accepted photo is re-encoded from its pixels, which drops EXIF (with any
GPS position) and anything else hidden in the file.
"""

import io
import uuid
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from cases.models import Case, CasePhoto
from departments.models import User

MAX_PHOTOS = 5
MAX_PHOTO_BYTES = 10 * 1024 * 1024
# Decoded pixels: a small file can still be a decompression bomb.
MAX_PIXELS = 40_000_000
ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


class CleanPhoto:
    """A validated, re-encoded photo ready to be stored."""

    def __init__(self, content: bytes, image_format: str, name: str, size=(0, 0)):
        self.content = content
        self.width, self.height = size
        self.format = image_format
        self.content_type = ALLOWED_FORMATS[image_format]
        self.name = name


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
            out = io.BytesIO()
            if image_format == "JPEG":
                image.convert("RGB").save(out, "JPEG", quality=88, optimize=True)
            elif image_format == "PNG":
                image.save(out, "PNG", optimize=True)
            else:
                image.save(out, "WEBP", quality=88)
    except ValidationError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationError(
            _("%(name)s is not a JPEG, PNG or WebP image.") % {"name": name}, code="photo_type"
        ) from None
    return CleanPhoto(
        out.getvalue(),
        image_format,
        f"{uuid.uuid4().hex}.{EXTENSIONS[image_format]}",
        size=image.size,
    )


def clean_photos(uploads: Sequence, *, already: int = 0) -> list[CleanPhoto]:
    """Check a batch of uploads for a case that already has `already` photos."""
    if already + len(uploads) > MAX_PHOTOS:
        raise ValidationError(
            _("A case can have at most %(max)d photos.") % {"max": MAX_PHOTOS},
            code="too_many_photos",
        )
    errors, cleaned = [], []
    for upload in uploads:
        try:
            cleaned.append(clean_photo(upload))
        except ValidationError as error:
            errors.extend(error.error_list)
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def case_add_photos(*, case: Case, uploaded_by: User | None, uploads: Sequence) -> list[CasePhoto]:
    """Validate and store photos of `case`; all of them or, on any bad file, none.

    The case row is locked while counting so two uploads at once cannot pass 5 together.
    """
    Case.objects.select_for_update().filter(pk=case.pk).values_list("pk", flat=True).get()
    cleaned = clean_photos(uploads, already=CasePhoto.objects.filter(case=case).count())
    photos, written = [], []
    try:
        for photo in cleaned:
            record = CasePhoto(
                case=case,
                uploaded_by=uploaded_by,
                content_type=photo.content_type,
                width=photo.width,
                height=photo.height,
            )
            record.image.save(photo.name, ContentFile(photo.content), save=False)
            written.append((record.image.storage, record.image.name))
            record.save()
            photos.append(record)
    except Exception:
        # The rows roll back with the transaction; the files must not outlive them.
        for storage, name in written:
            storage.delete(name)
        raise
    return photos


@transaction.atomic
def case_report_with_photos(*, photos: Sequence = (), **report) -> Case:
    """Report a case (cases/services/intake.py `case_report`) and store its photos in the
    same transaction: a bad photo leaves no case behind."""
    from cases.services.intake import case_report

    case = case_report(**report)
    if photos and not case.is_replay:
        case_add_photos(case=case, uploaded_by=report.get("reporter"), uploads=photos)
    return case
