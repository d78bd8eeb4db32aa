"""People: users, their roles and the language of their emails, and the rules of which
role needs a township or a department."""

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as AuthUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from departments.models.places import Township
from departments.models.responsibility import Department


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
