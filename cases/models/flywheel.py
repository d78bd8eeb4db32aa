"""The data flywheel: rule suggestions an administrator dismissed, so that they are not
offered again. Suggestions themselves are computed from the audit trail, never stored."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from departments.models import Category, Department, GridCell, Township


class RuleSuggestionDismissal(models.Model):
    category = models.ForeignKey(
        Category, on_delete=models.CASCADE, related_name="+", verbose_name=_("category")
    )
    department = models.ForeignKey(
        Department, on_delete=models.CASCADE, related_name="+", verbose_name=_("department")
    )
    # The scope of the suggestion: a cell, or a whole township.
    township = models.ForeignKey(
        Township, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    cell = models.ForeignKey(
        GridCell, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(_("note"), blank=True)
    dismissed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("dismissed rule suggestion")
        verbose_name_plural = _("dismissed rule suggestions")
        constraints = [
            models.CheckConstraint(
                condition=Q(township__isnull=True, cell__isnull=False)
                | Q(township__isnull=False, cell__isnull=True),
                name="dismissal_one_scope",
            ),
            models.UniqueConstraint(
                models.F("category"),
                models.F("department"),
                Coalesce("township", 0),
                Coalesce("cell", 0),
                name="dismissal_unique",
            ),
        ]

    def __str__(self):
        return f"{self.category_id} → {self.department_id} ({self.cell_id or self.township_id})"
