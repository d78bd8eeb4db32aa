"""Form fields the case pages share: objects by code or id, photos uploaded or held
for a report, categories by name, phone numbers as people write them."""

import re
import unicodedata
from collections.abc import Callable

from django import forms
from django.db.models import Model, Q
from django.utils.translation import gettext_lazy as _

from cases.models import HeldPhoto
from cases.services.held_photos import HELD_PHOTOS_GONE
from departments.models import User
from departments.routing import written_id


class CodeOrIdChoiceField(forms.ModelChoiceField):
    """Accepts the object's code (links people write by hand: ?category=ENV) or its id
    (what the select submits).

    A form that holds the router's index sets `find` to look the value up there, in memory
    and as fresh as the routing stamp, instead of in the database."""

    find: Callable[[str], Model | None] | None = None

    def to_python(self, value):
        if value in self.empty_values:
            return None
        value = str(value).strip()
        if "\x00" in value:
            found = None  # no code holds one, and PostgreSQL refuses it in a string literal
        elif self.find is not None:
            found = self.find(value)
        else:
            wanted = Q(code=value)
            if (pk := written_id(value)) is not None:
                wanted |= Q(pk=pk)
            # Both readings in one query; a code wins over another row's id.
            rows = sorted(self.queryset.filter(wanted)[:2], key=lambda row: row.code != value)
            found = rows[0] if rows else None
        if found is None:
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice"
            )
        return found


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """Several files in one input; the rules (type, size, count) are in
    cases/services/photo_checks.py, which the service applies."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "widget", MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"})
        )
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [super(MultipleImageField, self).clean(item, initial) for item in data if item]
        return [super().clean(data, initial)] if data else []


class HeldPhotosField(forms.ModelMultipleChoiceField):
    """The ids of photos kept for a report at the duplicate screen (hidden inputs), looked
    up among the photos of `held_by`, which the form sets to the signed-in user: only the
    uploader hands them over.

    Empty, as on nearly every report, it cleans to an empty list without building or
    evaluating a queryset (a third of a millisecond of a report's CPU)."""

    def __init__(self, **kwargs):
        super().__init__(
            queryset=HeldPhoto.objects.none(),
            required=False,
            widget=forms.MultipleHiddenInput,
            error_messages=dict.fromkeys(("invalid_choice", "invalid_pk_value"), HELD_PHOTOS_GONE),
            **kwargs,
        )
        self.held_by: User | None = None

    def clean(self, value):
        if value in self.empty_values:
            return []
        # Nobody's photos without an owner: held_by is never NULL.
        self.queryset = HeldPhoto.objects.filter(held_by=self.held_by)
        return super().clean(value)


class CategoryChoiceField(CodeOrIdChoiceField):
    # The names the reader may search by, and the code: the official name, and beside it
    # the one the page's language reads when that is another (`Category.display_name`).
    def label_from_instance(self, obj):
        shown = obj.display_name
        names = obj.name if shown == obj.name else f"{obj.name} / {shown}"
        return f"{names} ({obj.code})"


# A phone number as people write one: digits, a leading + for a country code, and spaces,
# hyphens or parentheses between groups ("138 0013 8000", "(010) 6552-9988", "+86 …").
PHONE = re.compile(r"\+?[0-9 ()\-]+", re.ASCII)
PHONE_DIGITS = (5, 20)


def validate_phone(value: str) -> None:
    digits = sum(character.isdigit() for character in value)
    if not PHONE.fullmatch(value) or not PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1]:
        raise forms.ValidationError(
            _(
                "Enter a phone number: %(min)d to %(max)d digits, which may start with + and"
                " be grouped with spaces, hyphens or parentheses."
            ),
            code="invalid_phone",
            params={"min": PHONE_DIGITS[0], "max": PHONE_DIGITS[1]},
        )


class PhoneField(forms.CharField):
    """Full-width characters typed with a Chinese input method (１３８, （０１０）, ＋) are
    read as their ASCII forms before the check, and kept so."""

    def to_python(self, value):
        return unicodedata.normalize("NFKC", super().to_python(value)).strip()
