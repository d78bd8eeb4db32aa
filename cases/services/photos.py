"""A case's photos: storing them (`case_add_photos`, `case_report_with_photos`), each
picture once (one the case has already is not stored again), and counting them against
the allowance of the uploader's side, the problem's or the departments'
(`photos_of_the_same_side`, `photo_room`). What a photo must be to be accepted is
`photo_checks`; photos kept for a report shown again are `held_photos`.
"""

import hashlib
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from cases.models import TERMINAL_STATES, Case, CasePhoto, HeldPhoto, State
from cases.services.held_photos import HELD_PHOTOS_GONE, held_as_cleaned
from cases.services.intake import case_report
from cases.services.photo_checks import MAX_PHOTOS, CleanPhoto, clean_photos, distinct_photos
from cases.services.photo_files import delete_files_on_commit, store_photos
from departments.models import User


def _stored_digests(photos) -> dict[str, int]:
    """The digest of each stored photo's file, with how many photos have it (one, unless
    stored before copies were told apart); a file gone from storage counts on its own."""
    digests: dict[str, int] = {}
    for photo in photos.only("pk", "image"):
        try:
            with photo.image.open("rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
        except FileNotFoundError:
            digest = f"missing:{photo.pk}"
        digests[digest] = digests.get(digest, 0) + 1
    return digests


def photos_new_to(case: Case, photos: Sequence[CleanPhoto]) -> list[CleanPhoto]:
    """Of `photos` (a report's form sent again), the pictures `case` does not have: a form
    sent again with other photos is another report, as one with other words is."""
    if not photos:
        return []
    stored = _stored_digests(CasePhoto.objects.filter(case=case))
    return [photo for photo in photos if photo.digest not in stored]


def is_departments_photo(uploaded_by: User | None) -> bool:
    """Whether a photo by `uploaded_by` is of the departments' side (taken by liaisons: the
    fix) rather than the problem's (everybody else's, and what came with a report)."""
    return uploaded_by is not None and uploaded_by.role == User.Role.LIAISON


def photos_of_the_same_side(case: Case, uploaded_by: User | None):
    """The case's photos that count against the allowance of `uploaded_by`'s side."""
    photos = CasePhoto.objects.filter(case=case)
    if is_departments_photo(uploaded_by):
        return photos.filter(uploaded_by__role=User.Role.LIAISON)
    # A photo sent with an Open311 report has no uploader: the problem's (exclude keeps it).
    return photos.exclude(uploaded_by__role=User.Role.LIAISON)


def photo_room(case: Case, uploaded_by: User) -> int:
    """How many more photos `uploaded_by` may add to `case`, counted in its photos as
    loaded (with their uploaders) for its page: no query of its own. 0 once the case is
    closed or cancelled."""
    if case.state in TERMINAL_STATES:
        return 0
    side = is_departments_photo(uploaded_by)
    taken = sum(1 for photo in case.photos.all() if is_departments_photo(photo.uploaded_by) == side)
    return max(0, MAX_PHOTOS - taken)


@transaction.atomic
def case_add_photos(
    *,
    case: Case,
    uploaded_by: User | None,
    uploads: Sequence = (),
    held: Sequence = (),
    cleaned: Sequence[CleanPhoto] = (),
) -> list[CasePhoto]:
    """Validate and store photos of `case`, the new `uploads`, the `held` photos of
    `photos_hold` (which it takes over) and those `cleaned` already (`clean_photos`); all
    of them or, on any bad file, none. A picture given more than once is stored, and
    counted against MAX_PHOTOS, once: fewer photos come back than were given then
    (`copies_left_out`).

    The case row is locked while counting so two uploads at once cannot pass 5 together;
    the departments' photos are counted apart from the problem's. A closed or cancelled
    case takes none (SPEC §2: terminal), read from the locked row: a case closed after
    its page was shown refuses too.
    """
    state = (
        Case.objects.select_for_update().filter(pk=case.pk).values_list("state", flat=True).get()
    )
    if state in TERMINAL_STATES:
        raise ValidationError(
            _("Case %(number)s is %(state)s: no photos can be added to it any more.")
            % {"number": case.number, "state": State(state).label},
            code="case_finished",
        )
    if held:
        # Only the uploader's, locked so that the purge skips them.
        wanted = {photo.pk for photo in held}
        held = list(
            HeldPhoto.objects.select_for_update().filter(pk__in=wanted, held_by=uploaded_by)
        )
        if len(held) != len(wanted):
            raise ValidationError(HELD_PHOTOS_GONE, code="held_photos_gone")
    # A picture the case has already (attached again: the page did not seem to take it)
    # is a copy too, and takes no room: files are stored as re-encoded, byte for byte.
    on_case = _stored_digests(photos_of_the_same_side(case, uploaded_by))
    already = sum(on_case.values())
    beside = [*cleaned, *held_as_cleaned(held)]
    cleaned = [
        photo
        for photo in distinct_photos(
            [*clean_photos(uploads, already=already, beside=beside, stored=on_case), *beside]
        )
        if photo.digest not in on_case
    ]
    photos = [CasePhoto(case=case, uploaded_by=uploaded_by) for _ in cleaned]
    store_photos(zip(photos, cleaned, strict=True))
    if held:
        HeldPhoto.objects.filter(pk__in=[photo.pk for photo in held]).delete()
        delete_files_on_commit([(photo.image.storage, photo.image.name) for photo in held])
    return photos


@transaction.atomic
def case_report_with_photos(
    *,
    photos: Sequence = (),
    cleaned_photos: Sequence[CleanPhoto] = (),
    held_photos: Sequence = (),
    **report,
) -> Case:
    """Report a case (cases/services/intake.py `case_report`) and store its photos, new
    (`photos` uploaded, or `cleaned_photos` checked already by the form) and held, in the
    same transaction: a bad photo leaves no case behind."""
    # Decoded and re-encoded before the report takes its number: the year's counter stays
    # locked until commit, and every other report waits for it meanwhile (intake.py).
    beside = [*cleaned_photos, *held_as_cleaned(held_photos)]
    cleaned = [*cleaned_photos, *clean_photos(photos, beside=beside)]
    case = case_report(**report)
    if (cleaned or held_photos) and not case.is_replay:
        case_add_photos(
            case=case, uploaded_by=report.get("reporter"), cleaned=cleaned, held=held_photos
        )
    return case
