"""users.csv: `username,full_name,email,role,township_code,department_code`.

No password is ever in the file: new users get an unusable one and are returned by
`apply` (`ImportResult.created`) so that the caller can invite them to set their own.
"""

from __future__ import annotations

from django.contrib.auth.hashers import make_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from departments.importers.base import (
    CREATE,
    UNCHANGED,
    ImportPlan,
    check_email,
    check_text,
    note_duplicate,
    plan_row,
    read_csv,
    write_rows,
)
from departments.models import Department, Township, User
from departments.services import STAFF_ROLES, sync_role_groups

COLUMNS = ("username", "full_name", "email", "role", "township_code", "department_code")
Role = User.Role
NEEDS_TOWNSHIP = {Role.CASEWORKER, Role.DISPATCHER}


def plan_users(data: bytes | str, *, progress=None) -> ImportPlan:
    """Check users.csv against the database; upserts keyed by `username`."""
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
        if not email:
            plan.error(line, "email", _("is required (invitations and escalations go there)."))
        else:
            check_email(email, plan, line, "email")
        role = v["role"]
        if role not in Role.values:
            plan.error(
                line,
                "role",
                _("“%(value)s” is not a role: use one of %(choices)s.")
                % {"value": role, "choices": ", ".join(Role.values)},
            )
        township = department = None
        if v["township_code"]:
            township = townships.get(v["township_code"])
            if township is None:
                plan.error(
                    line,
                    "township_code",
                    _("unknown township “%(code)s”.") % {"code": v["township_code"]},
                )
        elif role in NEEDS_TOWNSHIP:
            plan.error(line, "township_code", _("a %(role)s needs a township.") % {"role": role})
        if v["department_code"]:
            department = departments.get(v["department_code"])
            if department is None:
                plan.error(
                    line,
                    "department_code",
                    _("unknown department “%(code)s”.") % {"code": v["department_code"]},
                )
        elif role == Role.LIAISON:
            plan.error(line, "department_code", _("a liaison needs a department."))
        if username and note_duplicate(seen, username, plan, line, "username", username):
            continue
        if len(plan.errors) == errors_before:
            is_superuser = role == Role.ADMIN
            values = {
                "username": username,
                "full_name": full_name,
                "email": email,
                "role": role,
                "township_id": township.pk if township else None,
                "department_id": department.pk if department else None,
                "is_superuser": is_superuser,
                # The same rule as departments.services.sync_role_groups, which runs after.
                "is_staff": role in STAFF_ROLES or is_superuser,
            }
            parsed.append((line, username, values))
    if plan.errors:
        return plan
    existing = User.objects.in_bulk(
        [username for _l, username, _v in parsed], field_name="username"
    )
    plan.rows = [plan_row(line, name, existing.get(name), values) for line, name, values in parsed]
    return plan


def _write(plan: ImportPlan) -> list:
    for row in plan.rows:
        if row.action == CREATE:
            # What set_unusable_password() stores: nobody can sign in until invited.
            row.values = {**row.values, "password": make_password(None)}
    created = write_rows(User, plan.rows)
    sync_role_groups(users=[row.instance for row in plan.rows if row.action != UNCHANGED])
    return created
