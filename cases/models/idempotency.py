"""Idempotency keys of case reports: a form submitted twice (a double click, a retry after
a timeout) or an Open311 POST repeated with the same `Idempotency-Key` creates one case.

The key row is inserted before the case, in the same transaction; a second submission
with the same (scope, key) waits on the unique index until the first commits, then finds
its case (cases/services/intake.py `case_report`)."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.models.case import Case


class IdempotencyKey(models.Model):
    # Whose key it is ("user:<pk>", "apikey:<pk>"): a key only ever replays its own
    # client's case, so guessing another client's key reveals nothing.
    scope = models.CharField(_("scope"), max_length=64)
    key = models.CharField(_("key"), max_length=255)
    case = models.OneToOneField(
        Case, null=True, on_delete=models.PROTECT, related_name="idempotency_key"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_once"),
        ]

    def __str__(self):
        return f"{self.scope} {self.key}"
