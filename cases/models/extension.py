"""Extension requests (延期): a liaison asks for more time on a running deadline; a
supervisor approves or refuses it, in the admin or from a signed link in an email."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from cases.models.case import Case
from cases.models.states import DeadlineKind
from departments.models import Department


class ExtensionRequest(models.Model):
    class Status(models.TextChoices):
        # Not the outbox's "pending" (waiting to be sent): waiting for a decision.
        PENDING = "pending", pgettext_lazy("extension request", "pending")
        APPROVED = "approved", _("approved")
        REFUSED = "refused", _("refused")
        # The deadline it asked about ended (accepted, resolved, returned) before a decision.
        LAPSED = "lapsed", _("lapsed")

    case = models.ForeignKey(
        Case, on_delete=models.PROTECT, related_name="extension_requests", verbose_name=_("case")
    )
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="+", verbose_name=_("department")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    reason = models.TextField(_("reason"))
    extra_days = models.DecimalField(
        _("extra working days"),
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(Decimal("60"))],
    )
    # The deadline it asks about: the clock running when it was made.
    deadline_kind = models.CharField(_("deadline"), max_length=10, choices=DeadlineKind.choices)
    deadline_seq = models.PositiveIntegerField()
    old_due_at = models.DateTimeField(_("due before"))
    new_due_at = models.DateTimeField(_("due after"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("decided by"),
    )
    # The address a signed email link was sent to, when the decision came from one.
    decided_by_label = models.CharField(_("decided by (email)"), max_length=254, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    created_at = models.DateTimeField(_("requested at"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("extension request")
        verbose_name_plural = _("extension requests")
        constraints = [
            # One open request per case: a second one waits for the first decision.
            models.UniqueConstraint(
                fields=["case"], condition=Q(status="pending"), name="extension_one_pending"
            ),
            models.CheckConstraint(condition=Q(extra_days__gt=0), name="extension_days_positive"),
        ]

    def __str__(self):
        return f"{self.case.number} +{self.extra_days_shown}d ({self.get_status_display()})"

    @property
    def extra_days_shown(self) -> str:
        """The days as a person wrote them: 2, not 2.00; a half day stays 0.5."""
        return format(self.extra_days.normalize(), "f")

    @property
    def extra_days_plural(self) -> int:
        """The number that picks "day" or "days" (a decimal cannot): one exactly is one."""
        return 1 if self.extra_days == 1 else 2

    @property
    def decider_display(self) -> str:
        return str(self.decided_by) if self.decided_by_id else self.decided_by_label
