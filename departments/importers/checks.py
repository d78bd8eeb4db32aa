"""Checking an import file's values, one field at a time: codes, names, numbers, dates,
roles and email addresses, and the keys a file repeats or differs from only in letter case.
Each check records its error on the plan, in the user's language."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import TextChoices
from django.db.models.functions import Lower
from django.utils import translation
from django.utils.translation import gettext as _

from departments.importers.plans import ImportPlan, position

# Codes are short English identifiers (SPEC: "English codes"): letters, digits, - _ .
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
# ISO (2024-01-02), or the year-first short date Excel writes when it saves in a Chinese
# locale a file it opened (2024/1/2), or one typed with dashes and no zeros (2024-1-2):
# with the year first, none reads two ways.
DATE_PATTERN = re.compile(r"^(\d{4})([-/])(\d{1,2})\2(\d{1,2})$")

# How Excel saves a number of 12 digits or more (a 12-digit administrative division code,
# 330102001001) from a column of the General format: as shown, in scientific notation.
EXCEL_SCIENTIFIC = re.compile(r"^\d(\.\d+)?E\+\d+$")


def excel_shortened(value: str) -> str | None:
    """Why `value` cannot be the code it was, when Excel shortened it; else None."""
    if not EXCEL_SCIENTIFIC.match(value):
        return None
    return _(
        "“%(value)s” is a long number Excel showed in scientific notation and saved so, "
        "losing its digits: in Excel, format the column as Text, type the codes again and "
        "save."
    ) % {"value": value}


def check_code(value: str, plan: ImportPlan, line: int, field_name: str, max_length: int = 32):
    if not value:
        plan.error(line, field_name, _("is required."))
        return None
    if message := excel_shortened(value):
        plan.error(line, field_name, message)
        return None
    if len(value) > max_length:
        plan.error(line, field_name, _("is longer than %(n)d characters.") % {"n": max_length})
        return None
    if not CODE_PATTERN.match(value):
        plan.error(line, field_name, not_a_code(value))
        return None
    return value


def not_a_code(value: str) -> str:
    """What is wrong with `value` as a code: the import's words and the admin's."""
    return _(
        "“%(value)s” is not a code: begin with a Latin letter (A–Z) or a digit, "
        "then letters, digits, “-”, “_” or “.”."
    ) % {"value": value}


def note_case_clashes(
    model, codes: list[tuple[int, str]], plan: ImportPlan, field_name: str, key: str = "code"
):
    """An error on each (line, code) that differs from a stored `key`, or from one earlier
    in the file, only in letter case: "urban" beside "URBAN" would quietly be a second
    department, not an update of the first. One query."""
    if not codes:
        return
    first_in_file: dict[str, str] = {}
    for line, code in codes:
        first = first_in_file.setdefault(code.lower(), code)
        if first != code:
            plan.error(
                line,
                field_name,
                _("“%(code)s” differs from “%(first)s” earlier in the file only in letter case.")
                % {"code": code, "first": first},
            )
    stored = set(
        model.objects.annotate(lower_key=Lower(key))
        .filter(lower_key__in={code.lower() for _line, code in codes})
        .values_list(key, flat=True)
    )
    by_lower = {code.lower(): code for code in stored}
    for line, code in codes:
        if code not in stored and code.lower() in by_lower:
            plan.error(
                line,
                field_name,
                _("“%(code)s” differs from the existing “%(stored)s” only in letter case.")
                % {"code": code, "stored": by_lower[code.lower()]},
            )


def check_text(
    value: str, plan: ImportPlan, line: int, field_name: str, max_length: int, required=True
):
    if required and not value:
        plan.error(line, field_name, _("is required."))
        return None
    if len(value) > max_length:
        plan.error(line, field_name, _("is longer than %(n)d characters.") % {"n": max_length})
        return None
    return value


def check_positive_decimal(value: str, plan: ImportPlan, line: int, field_name: str):
    """A number > 0 that fits DecimalField(max_digits=7, decimal_places=2)."""
    if not value:
        plan.error(line, field_name, _("is required."))
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        plan.error(line, field_name, _("“%(value)s” is not a number.") % {"value": value})
        return None
    if not number.is_finite() or number <= 0:
        plan.error(
            line,
            field_name,
            _("must be a number greater than 0, not “%(value)s”.") % {"value": value},
        )
        return None
    # Too big first: quantizing 1e30 to cents overflows the decimal context.
    if number >= Decimal("100000"):
        plan.error(
            line,
            field_name,
            _("“%(value)s” has too many digits: at most 99999.99.") % {"value": value},
        )
        return None
    if number != number.quantize(Decimal("0.01")):
        # 0.001 would be stored as 0.00: the digits that matter are the decimal places.
        plan.error(
            line,
            field_name,
            _("“%(value)s” has too many decimal places: at most 2.") % {"value": value},
        )
        return None
    return number.quantize(Decimal("0.01"))


def check_date(value: str, plan: ImportPlan, line: int, field_name: str):
    """An ISO date (YYYY-MM-DD, or YYYY-M-D) or Excel's YYYY/M/D, or None for an empty value.
    Returns (ok, date)."""
    from datetime import date

    if not value:
        return True, None
    try:
        match = DATE_PATTERN.match(value)
        if not match:
            raise ValueError(value)
        year, _separator, month, day = match.groups()
        return True, date(int(year), int(month), int(day))
    except ValueError:
        plan.error(
            line, field_name, _("“%(value)s” is not a date: use YYYY-MM-DD.") % {"value": value}
        )
        return False, None


def not_a_role(value: str, roles: type[TextChoices]) -> str:
    """Why `value` is no role of `roles`: naming the code to write when it is one in other
    letter case, or a role's name in either language (the admin's lists and the import
    preview show "网格员" where the file needs "caseworker")."""
    wanted = value.casefold()
    for code, label in roles.choices:
        names = {code.casefold()}
        for language, _name in settings.LANGUAGES:
            with translation.override(language):
                names.add(str(label).casefold())
        if wanted in names:
            return _("“%(value)s” is not a role: write it as “%(code)s”.") % {
                "value": value,
                "code": code,
            }
    # The codes joined by a comma, not by an English "or" inside a Chinese line.
    return _("“%(value)s” is not a role: use one of %(choices)s.") % {
        "value": value,
        "choices": ", ".join(roles.values),
    }


# The longest address mail servers take (RFC 5321), as the user and outbox columns hold.
EMAIL_MAX_LENGTH = 254


def is_email_address(value: str) -> bool:
    """An address mail can be sent to: Django's check, which allows 320 characters, and
    the EMAIL_MAX_LENGTH that mail servers and the outbox keep to."""
    try:
        validate_email(value)
    except ValidationError:
        return False
    return len(value) <= EMAIL_MAX_LENGTH


def check_email(value: str, plan: ImportPlan, line: int, field_name: str):
    if not is_email_address(value):
        plan.error(line, field_name, _("“%(value)s” is not an email address.") % {"value": value})
        return None
    return value


def note_duplicate(seen: dict, key, plan: ImportPlan, line: int, field_name: str, label: str):
    """Record `key` as seen on `line`; an error if an earlier row had the same key."""
    if key in seen:
        plan.error(
            line,
            field_name,
            _("%(key)s appears twice (first in %(position)s).")
            % {"key": label, "position": position(plan.unit, seen[key])},
        )
        return True
    seen[key] = line
    return False
