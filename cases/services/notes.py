"""Internal notes on a case: a staff conversation beside the audit trail, not a transition."""

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from cases.models import Case, CaseNote, CasePhoto
from cases.services.photos import case_add_photos
from departments.models import User


@transaction.atomic
def case_add_note(
    *, case: Case, author: User, text: str, photos: Sequence = (), held_photos: Sequence = ()
) -> tuple[CaseNote, list[CasePhoto]]:
    """Add a note (and optionally photos, new or held by `photos_hold`) to `case`; the
    case's state and version do not change, so nobody's open page goes stale because of a
    comment. Returns the note and the photos stored, each picture once (`case_add_photos`):
    fewer than were given when some were copies."""
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": _("Write something first.")})
    note = CaseNote.objects.create(case=case, author=author, text=text)
    stored = []
    if photos or held_photos:
        stored = case_add_photos(case=case, uploaded_by=author, uploads=photos, held=held_photos)
    return note, stored
