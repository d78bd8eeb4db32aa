"""The world cases move through: places, departments, categories, the responsibility
list, people and the working-time calendar. Nothing here knows about cases."""

import secrets
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as AuthUserManager
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _


class Township(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        ordering = ["code"]
        verbose_name = _("township")
        verbose_name_plural = _("townships")

    def __str__(self):
        return f"{self.name} ({self.code})"


class GridCell(models.Model):
    """A grid cell with its boundary as a GeoJSON geometry in WGS84.

    The bounding box is stored too so that the database can narrow a search by an index;
    point location itself goes through the router's STRtree (departments/routing.py).
    """

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    township = models.ForeignKey(
        Township, on_delete=models.PROTECT, related_name="cells", verbose_name=_("township")
    )
    community = models.CharField(_("community"), max_length=100, blank=True)
    boundary = models.JSONField(_("boundary"), help_text=_("GeoJSON Polygon or MultiPolygon"))
    min_lng = models.FloatField()
    min_lat = models.FloatField()
    max_lng = models.FloatField()
    max_lat = models.FloatField()

    class Meta:
        ordering = ["code"]
        verbose_name = _("grid cell")
        verbose_name_plural = _("grid cells")
        indexes = [models.Index(fields=["min_lng", "max_lng", "min_lat", "max_lat"])]

    def __str__(self):
        return f"{self.name} ({self.code})"


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
                violation_error_message=_("A category cannot be its own parent."),
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


# How many of the open cases a calendar entry moved the admin names by number; it counts
# them all. The cases app, which moves them, leaves the numbers on the entry.
MOVED_CASES_NAMED = 10


class HolidayQuerySet(models.QuerySet):
    def delete(self):
        deleted = self.delete_each()
        return len(deleted), {self.model._meta.label: len(deleted)}

    def delete_each(self) -> list["Holiday"]:
        """Delete the entries one at a time (the admin's "delete selected" comes here), and
        return them. Each entry's post_delete listener moves running deadlines from the
        calendar with that entry to the calendar without it; one DELETE of several removes
        them all before the first listener runs, which then measures the deadlines on a
        calendar that never was."""
        with transaction.atomic():
            entries = list(self)
            for entry in entries:
                entry.delete()
        return entries


class Holiday(models.Model):
    """An administrator's entry in the working calendar, for years the library does not know
    yet or for local corrections. Overrides the library for its date."""

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", _("public holiday (day off)")
        WORKDAY = "workday", _("make-up working day (调休)")

    date = models.DateField(_("date"), unique=True)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=100, blank=True)

    objects = HolidayQuerySet.as_manager()

    class Meta:
        ordering = ["date"]
        verbose_name = _("holiday or make-up day")
        verbose_name_plural = _("holidays and make-up days")

    def __str__(self):
        return f"{self.date} {self.get_kind_display()} {self.name}".strip()


def default_language() -> str:
    """The language of LANGUAGE_CODE (SPEC §8) as a user's language: "zh-hans" for any
    Chinese, otherwise English."""
    return user_language(settings.LANGUAGE_CODE)


def user_language(language_code: str) -> str:
    """A page's language code as a user's language: "zh-hans" for any Chinese, otherwise
    English."""
    return "zh-hans" if (language_code or "").lower().startswith("zh") else "en"


class UserQuerySet(models.QuerySet):
    def supervisors_to_mail(self, *, township_id: int | None):
        """The active supervisors with an email address of the township, or, for None,
        of the district (supervisors of no township): those a case's emails may go to."""
        return self.filter(
            role=User.Role.SUPERVISOR, township_id=township_id, is_active=True
        ).exclude(email="")


class UserManager(AuthUserManager.from_queryset(UserQuerySet)):
    pass


class User(AbstractUser):
    class Role(models.TextChoices):
        CASEWORKER = "caseworker", _("caseworker")
        DISPATCHER = "dispatcher", _("dispatcher")
        LIAISON = "liaison", _("department liaison")
        SUPERVISOR = "supervisor", _("supervisor")
        ADMIN = "admin", _("administrator")

    class Language(models.TextChoices):
        ENGLISH = "en", "English"
        CHINESE = "zh-hans", "简体中文"

    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, blank=True)
    township = models.ForeignKey(
        Township,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
        verbose_name=_("township"),
    )
    department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
        verbose_name=_("department"),
    )
    # The language of their emails (pages follow the browser): LANGUAGE_CODE's for a new
    # user, then the one they use the site in (`remember_language`).
    language = models.CharField(
        _("language"), max_length=8, choices=Language.choices, default=default_language
    )

    objects = UserManager()

    def remember_language(self, language_code: str) -> None:
        """Their emails from now on in the language they use the site in (the one they
        signed in with, or switched to): a Chinese official's browser reads Chinese pages,
        and their escalation emails went out in LANGUAGE_CODE's English."""
        language = user_language(language_code)
        if language != self.language:
            User.objects.filter(pk=self.pk).update(language=language)
            self.language = language

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            models.CheckConstraint(
                condition=~Q(role="liaison") | Q(department__isnull=False),
                name="liaison_has_department",
            ),
        ]

    def __str__(self):
        return self.full_name or self.username

    # Django's first and last names are unused: the admin's greeting and the password
    # pages read these.
    def get_full_name(self):
        return self.full_name or self.username

    def get_short_name(self):
        return self.full_name or self.username

    def clean(self):
        super().clean()
        errors = role_errors(
            self.role,
            email=self.email,
            has_township=self.township_id is not None,
            has_department=self.department_id is not None,
        )
        if errors:
            raise ValidationError(errors)

    @property
    def has_admin_rights(self) -> bool:
        """Superuser status or the admin role: either gives the admin's rights
        (departments.services.ROLE_PERMISSIONS)."""
        return self.is_superuser or self.role == self.Role.ADMIN

    def has_role(self, *roles: str) -> bool:
        return self.is_authenticated and self.is_active and self.role in roles


# Who needs what for their role to work (SPEC §1, §5). Caseworkers and dispatchers see
# their township's cases only: without one they could report a case and never see it again.
ROLES_NEEDING_A_TOWNSHIP = frozenset({User.Role.CASEWORKER, User.Role.DISPATCHER})


def admin_rights_lost(
    user: User, *, is_active: bool, is_superuser: bool, role: str
) -> tuple[bool, bool]:
    """What a change to `user` takes away, as (their administrator rights, their superuser
    status): the one rule of the users import and the admin's user form, which refuse a
    change that locks the acting administrator or everybody out."""
    if user.pk is None or not user.is_active:
        return False, False
    superuser_after = is_active and is_superuser
    rights_after = superuser_after or (is_active and role == User.Role.ADMIN)
    return user.has_admin_rights and not rights_after, user.is_superuser and not superuser_after


def role_errors(
    role: str, *, email: str, has_township: bool, has_department: bool
) -> dict[str, str]:
    """What is wrong with a user's role, email, township and department together, as
    {model field: message}; empty when nothing is. The one place of these rules: the
    users import (departments/importers/users.py) and the admin's user forms (`User.clean`)
    both use it. A user with no role (a bare superuser) is held to none of them."""
    Role = User.Role
    errors = {}
    if role and not email:
        errors["email"] = gettext("is required (invitations and escalations go there).")
    if role in ROLES_NEEDING_A_TOWNSHIP and not has_township:
        errors["township"] = gettext("a %(role)s needs a township.") % {"role": Role(role).label}
    if role == Role.LIAISON and not has_department:
        errors["department"] = gettext("a liaison needs a department.")
    elif has_department and role in Role.values and role != Role.LIAISON:
        # Only a liaison's cases are their department's. Anyone else's department would be
        # ignored, and mislead: a supervisor with one but no township sees the whole district.
        errors["department"] = _department_meaning(role)
    return errors


def _department_meaning(role: str) -> str:
    """Why a user of `role` (not a liaison) has no department, and what they see instead."""
    Role = User.Role
    if role == Role.SUPERVISOR:
        return gettext(
            "a supervisor has no department: a supervisor sees their township's cases, or "
            "with no township every case in the district; department heads receive "
            "escalations as their department's supervisor emails."
        )
    if role == Role.ADMIN:
        return gettext(
            "an administrator has no department: administrators see every case; only a "
            "department liaison has a department."
        )
    return gettext(
        "a %(role)s has no department: they work on their township's cases; only a "
        "department liaison has a department."
    ) % {"role": Role(role).label}
