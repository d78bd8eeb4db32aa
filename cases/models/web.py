"""What the web pages add to a case besides transitions: photos and internal notes."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.models.case import Case


def photo_path(instance: "CasePhoto", filename: str) -> str:
    # Files are never served from MEDIA_URL: only the access-checked photo view reads them.
    return f"case-photos/{timezone.now():%Y/%m}/{filename}"


class CasePhoto(models.Model):
    """A photo of a case, re-encoded on upload (cases/services/photo_checks.py) so it carries no
    EXIF location."""

    case = models.ForeignKey(
        Case, on_delete=models.PROTECT, related_name="photos", verbose_name=_("case")
    )
    image = models.ImageField(_("image"), upload_to=photo_path)
    content_type = models.CharField(max_length=32)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("case photo")
        verbose_name_plural = _("case photos")

    def __str__(self):
        return self.image.name


def held_photo_path(instance: "HeldPhoto", filename: str) -> str:
    return f"held-photos/{timezone.now():%Y/%m}/{filename}"


class HeldPhoto(models.Model):
    """A report's photo, already checked and re-encoded, kept while its caseworker looks at
    the possible duplicates: a browser cannot be handed a file back, so the page carries
    this row's id instead. The report or note it goes with takes it over; the beat purges
    the ones left behind after HELD_PHOTO_HOURS."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    held_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    image = models.ImageField(upload_to=held_photo_path)
    content_type = models.CharField(max_length=32)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return self.image.name


class CaseNote(models.Model):
    """An internal comment on a case: a conversation among staff, not a transition."""

    case = models.ForeignKey(
        Case, on_delete=models.PROTECT, related_name="notes", verbose_name=_("case")
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("author"),
    )
    text = models.TextField(_("text"))
    created_at = models.DateTimeField(_("written at"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("internal note")
        verbose_name_plural = _("internal notes")
        indexes = [models.Index(fields=["case", "created_at"], name="note_case_at")]

    def __str__(self):
        return self.text[:50]
