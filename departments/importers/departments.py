"""departments.csv: `code,name,supervisor_emails` (addresses separated by `;`, or by the
full-width `；`)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from departments.importers.checks import (
    check_code,
    check_text,
    is_email_address,
    note_case_clashes,
    note_duplicate,
)
from departments.importers.plans import ImportPlan, plan_row, write_rows
from departments.importers.reading import read_csv
from departments.models import Department

COLUMNS = ("code", "name", "supervisor_emails")


def plan_departments(data: bytes | str, *, progress=None) -> ImportPlan:
    """Check departments.csv against the database; upserts keyed by `code`."""
    plan = ImportPlan(subject="departments", writer=_write, progress=progress)
    parsed = []
    seen: dict[str, int] = {}
    for row in read_csv(data, COLUMNS, plan, spilled=_emails_split_by_commas):
        line, v = row.line, row.values
        errors_before = len(plan.errors)
        code = check_code(v["code"], plan, line, "code")
        name = check_text(v["name"], plan, line, "name", 100)
        emails, bad = split_emails(v["supervisor_emails"])
        for address in bad:
            plan.error(line, "supervisor_emails", not_an_email(address))
        if code and note_duplicate(seen, code, plan, line, "code", code):
            continue
        if len(plan.errors) == errors_before:
            parsed.append(
                (line, code, {"code": code, "name": name, "supervisor_emails": ";".join(emails)})
            )
    note_case_clashes(Department, [(line, code) for line, code, _v in parsed], plan, "code")
    if plan.errors:
        return plan
    existing = Department.objects.in_bulk([code for _line, code, _v in parsed], field_name="code")
    plan.rows = [plan_row(line, code, existing.get(code), values) for line, code, values in parsed]
    return plan


def split_emails(text: str) -> tuple[list[str], list[str]]:
    """The addresses of a `supervisor_emails` text, each once, and those that are not
    addresses: the import's rule and the admin form's, which store them joined by ";"."""
    emails, bad = [], []
    # "；" is the full-width ";" a Chinese input method types. Commas are not separators:
    # an address may hold one in a quoted local part ("wang,li"@example.org), which
    # validate_email accepts; not_an_email says to use ";" instead.
    for address in text.replace("；", ";").split(";"):
        address = address.strip()
        if not address or address.lower() in (kept.lower() for kept in emails):
            continue
        (emails if is_email_address(address) else bad).append(address)
    return emails, bad


def not_an_email(address: str) -> str:
    """Why `address`, one of split_emails' bad ones, is refused: with a hint when it looks
    like several addresses separated by a comma."""
    if any(mark in address for mark in ",，、"):
        return _("“%(value)s” is not an email address: separate addresses with “;”.") % {
            "value": address
        }
    return _("“%(value)s” is not an email address.") % {"value": address}


def _emails_split_by_commas(message: str, split: dict[str, list[str]]) -> str | None:
    """A hint for a row of too many fields whose supervisor_emails, unquoted, were
    separated by commas (`CG,城管局,a@example.org,b@example.org`): the CSV reader took
    them for more columns, so not_an_email never saw them."""
    fields = split.get("supervisor_emails", [])
    if all(is_email_address(field.strip()) for field in fields):
        return _(
            "%(message)s: separate the addresses of supervisor_emails with “;”, not commas."
        ) % {"message": message}
    return None


def _write(plan: ImportPlan) -> list:
    return write_rows(Department, plan.rows)
