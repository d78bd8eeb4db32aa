"""The access log of reporters' personal data (names, phone numbers).

Every time someone is shown or exports a reporter's unmasked contact, one row per case is
written here (cases/services/privacy.py `record_personal_data_access`). Rows are never
updated or deleted: they answer "who looked at this person's number, and when".
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.models.case import Case


class PersonalDataAccess(models.Model):
    class Purpose(models.TextChoices):
        VIEW = "view", _("case page")
        EXPORT = "export", _("export")
        ADMIN = "admin", _("admin")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("user"),
    )
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="personal_data_accesses")
    at = models.DateTimeField(_("time"), default=timezone.now)
    purpose = models.CharField(_("purpose"), max_length=8, choices=Purpose.choices)
    fields = models.CharField(_("fields"), max_length=100)
    path = models.CharField(_("address"), max_length=255, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("personal data access")
        verbose_name_plural = _("personal data accesses")
        indexes = [
            models.Index(fields=["case", "at"], name="pda_case_at"),
            models.Index(fields=["user", "at"], name="pda_user_at"),
        ]

    def __str__(self):
        return f"{self.user_id} {self.purpose} {self.case_id} {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValidationError("The personal data access log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("The personal data access log is append-only.")
