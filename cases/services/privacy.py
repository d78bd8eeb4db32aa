"""Reporters' personal data: showing it (masked, or unmasked and logged) and forgetting
it once the retention period after closing has passed."""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from cases.models import TERMINAL_STATES, ApiRequest, Case, CaseEvent, PersonalDataAccess
from cases.privacy import ReporterContact, can_see_personal_data, masked_contact
from departments.models import User

logger = logging.getLogger(__name__)

Purpose = PersonalDataAccess.Purpose
REPORTER_FIELDS = "reporter_name,reporter_phone"
# What an Open311 client may send about the reporter besides name and phone.
OPEN311_CONTACT_FIELDS = "email,account_id"
# What a posted request keeps about the reporter, blanked with the case's own fields.
POSTED_CONTACT_FIELDS = ("email", "device_id", "account_id")
FORGOTTEN_FIELDS = [*REPORTER_FIELDS.split(","), *POSTED_CONTACT_FIELDS]
NO_POSTED_CONTACT = dict.fromkeys(POSTED_CONTACT_FIELDS, "")


def record_personal_data_access(
    *,
    user: User,
    case_ids: Iterable[int],
    purpose: str,
    path: str = "",
    fields: str = REPORTER_FIELDS,
) -> int:
    """Append one access-log row per case whose unmasked reporter data (`fields`) `user`
    was shown. Returns how many rows were written."""
    now = timezone.now()
    rows = [
        PersonalDataAccess(
            user=user,
            case_id=case_id,
            at=now,
            purpose=purpose,
            fields=fields,
            path=path[:255],
        )
        for case_id in dict.fromkeys(case_ids)
    ]
    PersonalDataAccess.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def reporter_contact_for(
    *, user: User, case: Case, purpose: str, path: str = ""
) -> ReporterContact:
    """The reporter's contact as `user` may see it: real (and logged) for those who call
    reporters back (`can_see_personal_data`), masked for everyone else."""
    if not (case.reporter_name or case.reporter_phone):
        return ReporterContact("", "")
    if not can_see_personal_data(user, case):
        return masked_contact(case)
    record_personal_data_access(user=user, case_ids=[case.pk], purpose=purpose, path=path)
    return ReporterContact(case.reporter_name, case.reporter_phone)


def retention() -> timedelta:
    return timedelta(days=int(settings.REPORTER_RETENTION_DAYS))


@dataclass(frozen=True)
class Anonymisation:
    numbers: list[str]
    dry_run: bool


def reporters_anonymise(*, now: datetime | None = None, dry_run: bool = False) -> Anonymisation:
    """Blank the reporter's name and phone, and the email, device and account ids an Open311
    client posted with it, of every case closed or cancelled longer than
    REPORTER_RETENTION_DAYS ago, in a few statements whatever their number, with one
    audit row per case. Running it again changes nothing; `dry_run` only lists them."""
    now = now or timezone.now()
    posted_contact = ApiRequest.objects.filter(case=OuterRef("pk")).exclude(**NO_POSTED_CONTACT)
    due = Case.objects.filter(state__in=TERMINAL_STATES, closed_at__lt=now - retention()).filter(
        ~Q(reporter_name="") | ~Q(reporter_phone="") | Exists(posted_contact)
    )
    with transaction.atomic():
        rows = list(
            due.select_for_update(skip_locked=True).order_by("pk").values_list("pk", "number")
        )
        if dry_run or not rows:
            return Anonymisation([number for _pk, number in rows], dry_run)
        pks = [pk for pk, _number in rows]
        # The version moves, so a stale form (a correction) cannot write the data back.
        Case.objects.filter(pk__in=pks).update(
            reporter_name="", reporter_phone="", version=F("version") + 1
        )
        open311_contacts_forget(case_ids=pks)
        CaseEvent.objects.bulk_create(
            [
                CaseEvent(
                    case_id=pk,
                    action="anonymise",
                    actor_label="system",
                    data={"fields": FORGOTTEN_FIELDS, "retention_days": retention().days},
                    at=now,
                )
                for pk in pks
            ],
            batch_size=1000,
        )
    logger.info("Anonymised the reporters of %d closed case(s).", len(rows))
    return Anonymisation([number for _pk, number in rows], dry_run)


def open311_contacts_forget(*, case_ids: list[int]) -> int:
    """Blank the reporter contact that posted requests of these cases keep (email, device
    and account ids), in one statement. Returns how many request rows changed."""
    return (
        ApiRequest.objects.filter(case_id__in=case_ids)
        .exclude(**NO_POSTED_CONTACT)
        .update(**NO_POSTED_CONTACT)
    )
