"""users.csv: `username,full_name,email,role,township_code,department_code`.

No password is ever in the file: new users get an unusable one and are returned by
`apply` (`ImportResult.created`) so that the caller can invite them to set their own.
"""

from __future__ import annotations

from django.contrib.auth.hashers import make_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db.models.functions import Lower
from django.utils.translation import gettext as _

from departments.importers.checks import (
    EMAIL_MAX_LENGTH,
    check_email,
    check_text,
    excel_shortened,
    not_a_role,
    note_case_clashes,
    note_duplicate,
)
from departments.importers.plans import (
    CREATE,
    UNCHANGED,
    UPDATE,
    ImportPlan,
    RowPlan,
    plan_row,
    write_rows,
)
from departments.importers.reading import read_csv
from departments.models import Department, Township, User, admin_rights_lost, role_errors
from departments.services import STAFF_ROLES, sync_role_groups
from departments.wording import join_names

COLUMNS = ("username", "full_name", "email", "role", "township_code", "department_code")
# The column of the file that holds each field `role_errors` speaks of.
COLUMN_OF_FIELD = {"email": "email", "township": "township_code", "department": "department_code"}
Role = User.Role


def plan_users(data: bytes | str, *, progress=None, acting_user: User | None = None) -> ImportPlan:
    """Check users.csv against the database; upserts keyed by `username`.

    An import never leaves the site without an active superuser, and never takes away the
    administrator rights of `acting_user` (whoever imports in the admin): either is an
    error on the rows that would do it.
    """
    plan = ImportPlan(subject="users", writer=_write, progress=progress)
    rows = list(read_csv(data, COLUMNS, plan))
    if not rows:
        return plan
    townships = Township.objects.in_bulk(
        {r.values["township_code"] for r in rows if r.values["township_code"]}, field_name="code"
    )
    departments = Department.objects.in_bulk(
        {r.values["department_code"] for r in rows if r.values["department_code"]},
        field_name="code",
    )
    username_validator = UnicodeUsernameValidator()
    parsed = []
    seen: dict[str, int] = {}
    for row in rows:
        line, v = row.line, row.values
        errors_before = len(plan.errors)
        username = check_text(v["username"], plan, line, "username", 150)
        if username:
            try:
                username_validator(username)
            except ValidationError:
                plan.error(
                    line,
                    "username",
                    _("“%(value)s” may contain only letters, digits and @ . + - _")
                    % {"value": username},
                )
        full_name = check_text(v["full_name"], plan, line, "full_name", 150, required=False)
        email = v["email"]
        # The address check allows 320 characters; the column holds fewer.
        if email and check_text(email, plan, line, "email", EMAIL_MAX_LENGTH):
            check_email(email, plan, line, "email")
        role = v["role"]
        if role not in Role.values:
            plan.error(line, "role", not_a_role(role, Role))
        township = department = None
        if v["township_code"]:
            township = townships.get(v["township_code"])
            if township is None:
                plan.error(
                    line,
                    "township_code",
                    excel_shortened(v["township_code"])
                    or _("unknown township “%(code)s”.") % {"code": v["township_code"]},
                )
        if v["department_code"]:
            department = departments.get(v["department_code"])
            if department is None:
                plan.error(
                    line,
                    "department_code",
                    excel_shortened(v["department_code"])
                    or _("unknown department “%(code)s”.") % {"code": v["department_code"]},
                )
        # The rules the admin's user forms apply too (User.clean).
        problems = role_errors(
            role,
            email=email,
            has_township=bool(v["township_code"]),
            has_department=bool(v["department_code"]),
        )
        for name, message in problems.items():
            plan.error(line, COLUMN_OF_FIELD[name], message)
        # In the order of the columns, whichever rule found them.
        plan.errors[errors_before:] = sorted(
            plan.errors[errors_before:], key=lambda error: COLUMNS.index(error.field)
        )
        # Sign-in and the admin's user forms tell usernames apart regardless of case.
        if username and note_duplicate(seen, username.lower(), plan, line, "username", username):
            continue
        if len(plan.errors) == errors_before:
            values = {
                "username": username,
                "full_name": full_name,
                "email": email,
                "role": role,
                "township_id": township.pk if township else None,
                "department_id": department.pk if department else None,
            }
            parsed.append((line, username, values))
    note_case_clashes(
        User, [(line, name) for line, name, _v in parsed], plan, "username", "username"
    )
    existing = User.objects.in_bulk(
        [username for _l, username, _v in parsed], field_name="username"
    )
    # As in the admin's user forms: only a superuser makes one (the command is run by one).
    may_grant = acting_user is None or acting_user.is_superuser
    for _line, name, values in parsed:
        is_superuser = _superuser_status(existing.get(name), values["role"], may_grant=may_grant)
        values["is_superuser"] = is_superuser
        # The same rule as departments.services.sync_role_groups, which runs after.
        values["is_staff"] = values["role"] in STAFF_ROLES or is_superuser
    planned = [plan_row(line, name, existing.get(name), values) for line, name, values in parsed]
    # Checked over the sound rows even when others are bad, so that one run reports every
    # bad row. A bad row meant as an admin may be the file's administrator once mended.
    good_lines = {line for line, _name, _values in parsed}
    mends_an_admin = any(
        row.values["role"] == Role.ADMIN for row in rows if row.line not in good_lines
    )
    _check_administrators(planned, plan, acting_user, mends_an_admin=mends_an_admin)
    if not may_grant:
        _check_superusers_untouched(planned, plan)
    if plan.errors:
        plan.errors.sort(key=lambda error: error.line or 0)
    else:
        plan.rows = planned
        _warn_of_shared_addresses(planned, plan)
    return plan


def _warn_of_shared_addresses(rows: list[RowPlan], plan: ImportPlan) -> None:
    """A warning on each row giving a user an address another user has, in the file or
    stored: often a row copied and not corrected, sometimes a shared office mailbox, which
    may stay. Rows that keep their address are not warned again at every import. One query."""
    usernames = {row.key for row in rows}
    owners: dict[str, list[str]] = {}
    for row in rows:
        owners.setdefault(row.values["email"].lower(), []).append(row.key)
    stored = (
        User.objects.annotate(lower_email=Lower("email"))
        .filter(lower_email__in=list(owners))
        .exclude(username__in=usernames)
        .order_by("username")
        .values_list("lower_email", "username")
    )
    for email, username in stored:
        owners[email].append(username)
    for row in rows:
        if row.action == UNCHANGED or "email" not in row.changes:
            continue
        others = [name for name in owners[row.values["email"].lower()] if name != row.key]
        if others:
            plan.warn(
                row.line,
                "email",
                _(
                    "“%(email)s” is also the address of %(users)s: right for a shared "
                    "mailbox; otherwise correct it, as their invitations and escalations "
                    "would go to one mailbox."
                )
                % {
                    "email": row.values["email"],
                    "users": join_names(f"“{name}”" for name in others),
                },
            )


def _superuser_status(instance: User | None, role: str, *, may_grant: bool) -> bool:
    """The file has no superuser column: the role admin gives the status (when the
    importer `may_grant` it) and leaving that role takes it away. Otherwise the status
    stays as the admin's user form set it, so that an export imports back unchanged (a
    superuser may have another role, and an administrator by role may be no superuser)."""
    if instance is None or (instance.role == Role.ADMIN) != (role == Role.ADMIN):
        return role == Role.ADMIN and may_grant
    return instance.is_superuser


def _check_superusers_untouched(rows: list[RowPlan], plan: ImportPlan) -> None:
    """An error on each row changing a superuser, for an importer who is none: the admin's
    change form is closed to them too (they could otherwise take the account over by its
    email). A row already refused for the administrators' sake is not refused twice."""
    refused = {error.line for error in plan.errors}
    for row in rows:
        if row.action == UPDATE and row.instance.is_superuser and row.line not in refused:
            plan.error(
                row.line,
                "username",
                _("“%(username)s” is a superuser: only a superuser may change their record.")
                % {"username": row.key},
            )


def _check_administrators(
    rows: list[RowPlan], plan: ImportPlan, acting_user: User | None, *, mends_an_admin: bool
) -> None:
    """An error on each row that takes away the acting user's own administrator rights, or
    an active superuser's when no active superuser would be left: nobody could then sign
    in to the admin to put it right. With `mends_an_admin`, a bad row of the file names an
    admin: whether one is left is decided once that row is mended."""
    lost = {
        row.line: admin_rights_lost(
            row.instance,
            is_active=row.instance.is_active,  # the file does not say
            is_superuser=row.values["is_superuser"],
            role=row.values["role"],
        )
        for row in rows
        if row.instance is not None
    }
    own = [
        row
        for row in rows
        if acting_user is not None
        and row.instance is not None
        and row.instance.pk == acting_user.pk
        and lost[row.line][0]
    ]
    for row in own:
        plan.error(
            row.line,
            "role",
            _(
                "this would take away your own administrator rights: "
                "ask another administrator to change your role."
            ),
        )
    demoted = [row for row in rows if row.instance is not None and lost[row.line][1]]
    if not demoted or mends_an_admin or _superuser_left(rows, demoted=demoted):
        return
    own_lines = {row.line for row in own}
    for row in demoted:
        if row.line not in own_lines:
            plan.error(
                row.line,
                "role",
                _(
                    "this would take the administrator rights of “%(username)s” away and "
                    "leave no active administrator: keep the role admin for at least one "
                    "active user."
                )
                % {"username": row.key},
            )


def _superuser_left(rows: list[RowPlan], *, demoted: list[RowPlan]) -> bool:
    """Whether an active superuser remains once the rows in `demoted` are applied."""
    if any(
        row.values["is_superuser"] and (row.instance is None or row.instance.is_active)
        for row in rows
    ):
        return True  # the file keeps or makes one (a new user is active)
    return (
        User.objects.filter(is_superuser=True, is_active=True)
        .exclude(pk__in=[row.instance.pk for row in demoted])
        .exists()
    )


def _write(plan: ImportPlan) -> list:
    for row in plan.rows:
        if row.action == CREATE:
            # What set_unusable_password() stores: nobody can sign in until invited.
            row.values = {**row.values, "password": make_password(None)}
    created = write_rows(User, plan.rows)
    sync_role_groups(users=[row.instance for row in plan.rows if row.action != UNCHANGED])
    return created
