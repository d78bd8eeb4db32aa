"""Reporters' personal data (names and phone numbers, and the emails and accounts Open311
clients send): who may see it unmasked, and the masks everyone else sees. Emails and logs
always mask; pages and exports show the real values only to the people who call reporters
back, and record each time they do (cases/services/privacy.py)."""

import functools
import logging
import re
import sys
import unicodedata
from dataclasses import dataclass

from django.db.models import Q

# No model imports at module level: the logging filter below is loaded before the apps.

# Chinese mobiles (optionally +86) and landlines with an area code or without ("6552-9988"),
# also grouped as people write them ("(010) 6552-9988", "（010）6552-9988", "0571 8765 4321",
# "138.1234.5678", "138–1234–5678", "138 123 45678"), in ASCII or full-width digits
# (Python's \d is any Unicode digit, so １３８ is three digits); and 7+ digits in a row.
# Dates, times, amounts, coordinates and versions stay as written: their groups are
# shorter, or their digits are decimals.
#
# No catastrophic backtracking: every branch but the last is bounded (about 20
# characters), the last is one greedy run that can only give digits back, and the
# lookbehind lets a match start only where a run of digits starts, so masking costs time
# in proportion to the text's length.

# - and its look-alikes: hyphen-minus, U+2010-2015 (hyphen, non-breaking hyphen, figure
# dash, en dash, em dash, horizontal bar), minus U+2212, full-width hyphen U+FF0D.
_DASHES = r"\-\u2010-\u2015\u2212\uff0d"
# Spaces: ASCII, no-break (U+00A0, U+202F, as word processors put in) and ideographic
# (U+3000, an input method's full-width space).
_SPACES = r"\x20\u00a0\u202f\u3000"
# Between a mobile's groups: a dash or a space (not a dot: 135.12345678 is a longitude).
_GAP = rf"[{_DASHES}{_SPACES}]"
# An underscore too (138_1234_5678), for a mobile's groups only: a file name's
# "IMG_2019_0304" is no landline.
_MOBILE_GAP = rf"[{_DASHES}{_SPACES}_＿]"
# Between a landline's groups a dot too: nothing but a phone starts with 0 and groups so.
_GAP_OR_DOT = rf"[{_DASHES}{_SPACES}.．]"
_DOT = "[.．]"
_PHONE = re.compile(
    rf"""
    (?<![\d*])                   # not inside a longer number, nor next to a mask's stars
    (?:
        (?:[+＋]?[8８][6６]{_MOBILE_GAP}?)?                # a mobile: maybe +86,
        [1１][3-9３-９]\d                                  # 1[3-9]x, then 4 + 4 digits
        (?:(?:{_MOBILE_GAP}?\d{{4}}){{2}}|{_DOT}\d{{4}}{_DOT}\d{{4}}  # apart, by two dots,
          |{_MOBILE_GAP}\d{{3}}{_MOBILE_GAP}\d{{5}})         # or 3 + 5 ("138 123 45678")
      |
        # A city's landline without its area code, as locals write it ("6552-9988"), not
        # a range of years ("2019-2020").
        (?<!\d{_DOT})(?![12][09]\d\d{_GAP}[12][09]\d\d(?!\d))
        [2-9２-９]\d{{3}}{_GAP}\d{{4}}
      |
        (?<!\d{_DOT})                                      # (not a decimal's digits)
        (?:[(（]?[0０]|[+＋][8８][6６]{_GAP}?[(（]?)          # a landline: 0 or +86,
        \d{{2,3}}[)）]?{_GAP_OR_DOT}?                       # the area code,
        (?:\d{{7,8}}|\d{{3,4}}{_GAP_OR_DOT}\d{{4}})          # then 7-8 digits
      |
        # Any 7+ digits in a row, but not the decimals of a coordinate or an amount
        # (120.1550712), nor the whole part of one (12345678.00).
        (?<!\d{_DOT})\d{{7,}}(?!{_DOT}\d)
    )
    (?![\d*])
    """,
    re.VERBOSE,
)


def _ascii_digits(text: str) -> str:
    """The digits of `text` as ASCII (full-width １３８ → 138), everything else dropped."""
    return "".join(str(unicodedata.decimal(char)) for char in text if char.isdecimal())


def mask_phone(phone: str) -> str:
    """Keep the first 3 and last 4 digits, as Chinese public notices do (138****5678)."""
    digits = _ascii_digits(phone or "")
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]  # the country code of a mobile
    if len(digits) >= 11:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    # Short numbers: revealing 7 of them would reveal nearly all; keep only the end.
    return "*" * max(0, len(digits) - 4) + digits[-4:] if len(digits) > 4 else "*" * len(digits)


# What logs are searched by and holds digit runs that are no phone: UUIDs (sweep, task and
# message ids, with or without hyphens) and case numbers (a year, then six digits or more;
# no phone number starts with 20).
_NOT_A_PHONE = (
    r"(?<![0-9A-Za-z])(?:[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32})"
    r"(?![0-9A-Za-z])|(?<![\d*])20\d{2}-\d{6,}(?![\d*])"
)
_PHONE_OR_NOT = re.compile(f"(?P<kept>{_NOT_A_PHONE})|(?:{_PHONE.pattern})", re.VERBOSE)


def mask_phones(text: str) -> str:
    """Mask every phone number in free text."""
    return _PHONE_OR_NOT.sub(lambda match: match["kept"] or mask_phone(match.group(0)), text or "")


def mask_email(email: str) -> str:
    """The mailbox's first character and the domain: zhang@example.org → z****@example.org,
    zhang＠example.org (an input method's full-width mode) → z****＠example.org."""
    mailbox = _MAILBOX.match(email or "").group(0)
    return mailbox[:1] + "*" * max(0, len(mailbox) - 1) + (email or "")[len(mailbox) :]


_MAILBOX = re.compile("[^@＠]*")
# @ and the domain's dots full-width too, or the ideographic full stop an input method
# types for "." in Chinese mode (wang@163。com): between Latin labels only, as "。" also
# ends a sentence after an @-mention ("已通知@王科长。明天处理"). A match starts only where
# a run of mailbox characters starts: tried at every position of a long run (a
# 100,000-digit text), the run cost its length squared.
_EMAIL = re.compile(
    r"(?<![\w.+-])[\w.+-]+[@＠](?:[\w-]+(?:[.．][\w-]+)+|[A-Za-z0-9-]+(?:[.．。][A-Za-z0-9-]+)+)"
)


def mask_contacts(text: str) -> str:
    """Mask every email address and phone number in free text (a description a reporter's
    words went into), for readers who see contacts masked."""
    return mask_phones(_EMAIL.sub(lambda match: mask_email(match.group(0)), text or ""))


def mask_name(name: str) -> str:
    """The first character of each part, the rest starred: 张三 → 张*, Li Wei → L* W**."""
    return " ".join(part[0] + "*" * (len(part) - 1) for part in (name or "").split())


# The reporter's personal data on a case.
PERSONAL_FIELDS = ("reporter_name", "reporter_phone")


def sees_every_contact(user) -> bool:
    """Administrators see every reporter's contact unmasked (`can_see_personal_data`)."""
    from departments.models import User

    return user.is_active and (user.is_superuser or user.role == User.Role.ADMIN)


def can_see_personal_data(user, case) -> bool:
    """Whether `user` needs the reporter's real name and number on `case`: administrators,
    the case's own township caseworkers and dispatchers (they call reporters back and
    verify fixes), and whoever reported it. Departments and supervisors work without."""
    from departments.models import User

    if not (user.is_authenticated and user.is_active):
        return False
    if sees_every_contact(user):
        return True
    if case.reported_by_id is not None and case.reported_by_id == user.pk:
        return True
    return user.has_role(User.Role.CASEWORKER, User.Role.DISPATCHER) and (
        user.township_id is not None and user.township_id == case.township_id
    )


def cases_with_contacts_shown(user):
    """`can_see_personal_data` as a filter: the cases whose contacts `user` reads unmasked."""
    from departments.models import User

    if not (user.is_authenticated and user.is_active):
        return Q(pk__in=[])
    if sees_every_contact(user):
        return Q()
    shown = Q(reported_by_id=user.pk)
    if user.township_id is not None and user.has_role(User.Role.CASEWORKER, User.Role.DISPATCHER):
        shown |= Q(township_id=user.township_id)
    return shown


# \d is any Unicode digit: full-width １３８ probes as 138 does. The rest is what a
# mailbox is written with: its masked middle ("w*******@") answers "wa", then "wan"…
_PROBE = re.compile(r"[\d@＠A-Za-z._+\-]")


def could_probe_contacts(search: str) -> bool:
    """Whether a search text could tell a masked reader which free texts hold a phone
    number or email (matching digit by digit, or letter by letter, would give away the
    masked middle): any digit, @, or Latin letter or mark of a mailbox, full-width digits
    too. Such text is matched only against texts the reader reads unmasked, or that hold
    nothing to mask (`holding_no_contact`); a search in Chinese matches every text."""
    return bool(_PROBE.search(search or ""))


def search_skips_masked_texts(user, search: str) -> bool:
    """Whether `search`, for `user`, leaves out the free texts whose contacts they see
    masked (see `could_probe_contacts`): the list page says so."""
    return could_probe_contacts(search) and not sees_every_contact(user)


# A whole case number, "2026-000123": a year first, where a landline's area code starts
# with 0 ("0571-12345678", a probe like any other).
_CASE_NUMBER = re.compile(r"[12][0-9]{3}-[0-9]{6,}")


def search_note_due(user, search: str) -> bool:
    """Whether the list page says that `search` left out the texts `user` sees masked
    (`search_skips_masked_texts`): not for a whole case number, which finds its case by
    the number, so the note would only stand between the reader and the case."""
    return search_skips_masked_texts(user, search) and not _CASE_NUMBER.fullmatch(
        (search or "").strip()
    )


@functools.cache
def _digit_class(negated: bool = False) -> str:
    r"""Every Unicode decimal digit (Python's \d) as a bracket expression PostgreSQL's
    regular expressions read too: each script's digits are a run of ten from its zero."""
    zeros = (code for code in range(sys.maxunicode + 1) if unicodedata.decimal(chr(code), -1) == 0)
    runs = "".join(f"{chr(zero)}-{chr(zero + 9)}" for zero in zeros)
    return f"[{'^' if negated else ''}{runs}]"


def holding_no_contact(field: str) -> Q:
    """The rows whose free text `field` holds nothing `mask_contacts` would hide: no @ and
    fewer than seven digits in all (every phone number it masks has seven or more). Masked,
    such a text reads as it is, so a search matching it gives nothing away: a supervisor's
    search for "第1网格" finds the cell's reports, though not those with a number in them."""
    seven_digits = f"({_digit_class()}{_digit_class(negated=True)}*){{7}}"
    return ~Q(**{f"{field}__regex": seven_digits}) & _holding_no_at_sign(field)


def _holding_no_at_sign(field: str) -> Q:
    # An email's @, half- or full-width: what `mask_contacts` finds an email by.
    return ~Q(Q(**{f"{field}__contains": "@"}) | Q(**{f"{field}__contains": "＠"}))


# What `mask_contacts` finds between two digits of one phone number, at most one at a time:
# a dash, a space, a dot or an underscore, in any of the forms above. Written as the
# characters themselves (no regex escapes), which PostgreSQL's brackets read as Python's do.
_DIGIT_GAP = "[\u2010-\u2015\u2212\uff0d\u00a0\u202f\u3000 .\uff0e_\uff3f-]"


def holding_no_phone_number(field: str) -> Q:
    """The rows whose free text `field` holds nothing `mask_contacts` would hide, told
    closer than `holding_no_contact` does: no @, and no seven digits in a row counting at
    most one dash, space, dot or underscore between two (every phone number it masks is
    such a run). For addresses, whose house, building and flat numbers
    ("人民路123号5栋1201室") make seven digits in all but are no phone number."""
    digit = _digit_class()
    phone_shaped = f"{digit}({_DIGIT_GAP}?{digit}){{6}}"
    return ~Q(**{f"{field}__regex": phone_shaped}) & _holding_no_at_sign(field)


def addresses_searchable_by_digits(user) -> Q:
    """The cases whose address a search with digits, letters or @ may match for `user`:
    those whose contacts they read unmasked, and those whose address holds none."""
    return cases_with_contacts_shown(user) | holding_no_phone_number("address")


def descriptions_searchable_by_digits(user) -> Q:
    """The cases whose description a search with digits, letters or @ may match for `user`: those
    whose contacts they read unmasked, and those whose description holds none."""
    return cases_with_contacts_shown(user) | holding_no_contact("description")


def masked_unless(text: str, sees_contacts: bool) -> str:
    """Notes and comments carry numbers too (a report added to a case as its note, a
    liaison's "called 138…"), masked for readers who see the reporter masked."""
    return text if sees_contacts else mask_contacts(text)


def description_for(user, case) -> str:
    """The case's description as `user` may read it: reporters often write their number
    into it, so it is contact-masked for everyone who sees the reporter masked."""
    return masked_unless(case.description, can_see_personal_data(user, case))


@dataclass(frozen=True)
class ReporterContact:
    name: str
    phone: str

    def __bool__(self):
        return bool(self.name or self.phone)

    def __str__(self):
        return " ".join(part for part in (self.name, self.phone) if part)


def masked_contact(case) -> ReporterContact:
    return ReporterContact(mask_name(case.reporter_name), mask_phone(case.reporter_phone))


class MaskingFilter(logging.Filter):
    """A logging filter that passes every record's message and traceback through `mask`,
    whatever code logged them; several run one after another on a handler."""

    @staticmethod
    def mask(text: str) -> str:
        raise NotImplementedError

    def filter(self, record):
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        record.msg = self.mask(str(record.msg))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Exception messages too (a refused recipient, a database error's DETAIL), also
            # when a filter before this one formatted the traceback.
            record.exc_text = self.mask(record.exc_text)
        return True


class MaskPhoneNumbers(MaskingFilter):
    """Phone numbers, in every record (a failed SMTP recipient, an API error echoing a
    parameter)."""

    mask = staticmethod(mask_phones)
