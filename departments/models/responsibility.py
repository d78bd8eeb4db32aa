"""Who must act on what: departments, categories of problems, the responsibility list
(权责清单) and the stamp that tells every process's router to reload."""

import secrets
from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from departments.models.places import GridCell, Township

OWN_PARENT_MESSAGE = _("A category cannot be its own parent.")


class Department(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    supervisor_emails = models.TextField(
        _("supervisor emails"), blank=True, help_text=_("Addresses separated by ';'.")
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("department")
        verbose_name_plural = _("departments")

    def __str__(self):
        return self.name

    @property
    def supervisor_email_list(self) -> list[str]:
        return [email.strip() for email in self.supervisor_emails.split(";") if email.strip()]


class Category(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("parent"),
    )
    accept_hours = models.DecimalField(
        _("accept limit (working hours)"),
        max_digits=7,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    resolve_days = models.DecimalField(
        _("resolve limit (working days)"),
        max_digits=7,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        constraints = [
            models.CheckConstraint(
                condition=Q(accept_hours__gt=0) & Q(resolve_days__gt=0),
                name="category_limits_positive",
                violation_error_message=_("The accept and resolve limits must be more than zero."),
            ),
            # The admin shows these messages; the default names the constraint instead.
            models.CheckConstraint(
                condition=~Q(parent=F("pk")),
                name="category_not_own_parent",
                violation_error_message=OWN_PARENT_MESSAGE,
            ),
        ]

    def __str__(self):
        return f"{self.display_name} ({self.code})"

    def name_for(self, language: str | None) -> str:
        """The name a reader of `language` reads: the official (Chinese) name, or for any
        other language the English one where the category has it."""
        if self.name_en and not (language or "").startswith("zh"):
            return self.name_en
        return self.name

    @property
    def display_name(self) -> str:
        """`name_for` the active language, as pages and the admin show it."""
        return self.name_for(get_language())


class Responsibility(models.Model):
    """One line of the responsibility list (权责清单)."""

    class Role(models.TextChoices):
        LEAD = "lead", _("lead")
        ASSIST = "assist", _("assist")

    category = models.ForeignKey(
        Category,
        on_delete=models.PROTECT,
        related_name="responsibilities",
        verbose_name=_("category"),
    )
    department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        related_name="responsibilities",
        verbose_name=_("department"),
    )
    # Scope: neither set = everywhere; one of them set = that township or cell.
    township = models.ForeignKey(
        Township,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("township"),
    )
    cell = models.ForeignKey(
        GridCell,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("grid cell"),
    )
    role = models.CharField(_("role"), max_length=8, choices=Role.choices)
    basis = models.TextField(_("basis"), blank=True)
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_to = models.DateField(_("valid to"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("responsibility")
        verbose_name_plural = _("responsibility list")
        constraints = [
            models.CheckConstraint(
                condition=Q(township__isnull=True) | Q(cell__isnull=True),
                name="responsibility_one_scope",
                violation_error_message=_(
                    "A rule applies to a township or to a grid cell, not both: "
                    "leave one of them empty."
                ),
            ),
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True)
                | Q(valid_to__isnull=True)
                | Q(valid_from__lte=F("valid_to")),
                name="responsibility_valid_range",
                violation_error_message=_("The rule ends before it starts: check its dates."),
            ),
            # The import key of SPEC §5: category, department, scope and role.
            models.UniqueConstraint(
                F("category"),
                F("department"),
                Coalesce("township", 0),
                Coalesce("cell", 0),
                F("role"),
                name="responsibility_unique_key",
                violation_error_message=_(
                    "The responsibility list already has a rule for this category, "
                    "department, scope and role."
                ),
            ),
        ]

    def __str__(self):
        return (
            f"{self.category.code} → {self.department.code} ({self.role}, {self.scope_code or '*'})"
        )

    @property
    def scope_code(self) -> str:
        if self.cell_id:
            return self.cell.code
        if self.township_id:
            return self.township.code
        return ""


class RoutingStamp(models.Model):
    """A version number bumped whenever the grid, categories or responsibility list change,
    so that every process's cached router knows to reload (departments/routing.py)."""

    version = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"routing stamp {self.version}"

    @classmethod
    def bump(cls) -> None:
        # A random stamp rather than a counter: a rolled-back change must never leave a
        # process holding an index whose number is later reused for different data.
        cls.objects.update_or_create(
            pk=1, defaults={"version": secrets.randbits(62), "changed_at": timezone.now()}
        )

    @classmethod
    def current(cls) -> int:
        return cls.objects.filter(pk=1).values_list("version", flat=True).first() or 0
