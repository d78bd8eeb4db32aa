"""The upload rules for photos, in one place for the web form and the Open311 API.

A photo is accepted only when Pillow can decode it as JPEG, PNG or WebP (the file's
content decides, not its name or declared type), and it is at most 10 MB. A case keeps at
most 5 photos of the problem (the report's, the township's notes, Open311's) and 5 of its
departments (the fix, as SPEC §1 has liaisons resolve "with a note and photos"): a case
reported with 5 photos can still show its fix. Every accepted photo is re-encoded from its
pixels, which drops EXIF (with any GPS position) and anything else hidden in the file; the
same picture attached twice at once (any name, any EXIF) counts, and is kept, once
(`distinct_photos`). Storing photos on a case is `photos`, keeping them for a report
shown again `held_photos`.
"""

import hashlib
import io
import uuid
from collections.abc import Collection, Iterable, Sequence

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from PIL import Image, ImageOps, UnidentifiedImageError

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
