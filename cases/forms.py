"""Forms of the caseworker, dispatcher and supervisor pages. Forms validate input; the
services in cases/services/ act on it. No form ever carries a state: the URL names the
transition."""

import functools
import re
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from datetime import date

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Model, Q
from django.utils.translation import get_language, gettext_noop
from django.utils.translation import gettext_lazy as _

from cases.labels import join_clauses, labelled
from cases.models import Case, HeldPhoto, State, Urgency
from cases.services.photos import HELD_PHOTOS_GONE
from departments.models import Category, Department, GridCell, User
from departments.routing import RoutingIndex, get_index


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
        if self.find is not None:
            found = self.find(value)
        else:
            wanted = Q(code=value)
            if value.isdigit():
                wanted |= Q(pk=int(value))
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
    cases/services/photos.py, which the service applies."""

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
    # The names the reader may search by, and the code: a Chinese page keeps to Chinese.
    def label_from_instance(self, obj):
        english = obj.name_en and not (get_language() or "").startswith("zh")
        return f"{obj.name} / {obj.name_en} ({obj.code})" if english else f"{obj.name} ({obj.code})"


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


class ReportForm(forms.Form):
    category = CategoryChoiceField(
        label=_("Category"),
        queryset=Category.objects.order_by("code"),
        required=False,
        empty_label=_("Not sure (the township decides)"),
    )
    cell = CodeOrIdChoiceField(
        label=_("Grid cell"),
        # Nothing here draws the boundary (the map reads cells_geojson): don't load it.
        queryset=GridCell.objects.defer("boundary").order_by("code"),
        required=False,
        empty_label=_("Locate from the point on the map"),
    )
    lat = forms.FloatField(
        label=_("Latitude"), required=False, min_value=-90, max_value=90, widget=forms.HiddenInput
    )
    lng = forms.FloatField(
        label=_("Longitude"),
        required=False,
        min_value=-180,
        max_value=180,
        widget=forms.HiddenInput,
    )
    address = forms.CharField(label=_("Address"), max_length=255, required=False)
    description = forms.CharField(label=_("Description"), widget=forms.Textarea(attrs={"rows": 4}))
    urgency = forms.ChoiceField(label=_("Urgency"), choices=Urgency.choices, initial=Urgency.NORMAL)
    reporter_name = forms.CharField(label=_("Reporter name"), max_length=100, required=False)
    reporter_phone = PhoneField(
        label=_("Reporter phone"),
        max_length=32,
        required=False,
        # A phone keypad on a phone; the server still checks what is typed.
        widget=forms.TextInput(attrs={"type": "tel"}),
        validators=[validate_phone],
    )
    # Before `photos`, whose count includes them.
    held_photos = HeldPhotosField()
    photos = MultipleImageField(
        label=_("Photos"), help_text=_("Up to 5 JPEG, PNG or WebP images, 10 MB each.")
    )
    # Set when the caseworker has seen the possible duplicates and reports anyway.
    confirm_new = forms.BooleanField(required=False, widget=forms.HiddenInput)
    # Made when the empty form is shown and posted back with it: submitting the same form
    # twice (a double click, a retry after a timeout) reports one case.
    idempotency_key = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, user: User, index: RoutingIndex | None = None, **kwargs):
        """`index`: the router's index the view read for this request; the category and
        the cell are then looked up in it rather than queried."""
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["held_photos"].held_by = user
        if not self.is_bound:
            self.fields["idempotency_key"].initial = uuid.uuid4()
        # Township staff report in their own township: other cells are not offered.
        if user.township_id:
            self.fields["cell"].queryset = self.fields["cell"].queryset.filter(
                township_id=user.township_id
            )
        self.index = index
        if index is not None:
            self.fields["category"].find = index.find_category
            self.fields["cell"].find = functools.partial(self._offered_cell, index)

    def _offered_cell(self, index: RoutingIndex, value: str) -> GridCell | None:
        """`index.find_cell`, within the cells the queryset above offers."""
        cell = index.find_cell(value)
        if cell is None or (self.user.township_id and cell.township_id != self.user.township_id):
            return None
        return cell

    def clean(self):
        data = super().clean()
        lat, lng = data.get("lat"), data.get("lng")
        if data.get("cell") is None and (lat is None or lng is None):
            self.add_error("cell", _("Choose a grid cell, or pick the place on the map."))
        elif data.get("cell") is None and self.user.township_id:
            # As a cell of another township is not offered, nor is a point in one: the case
            # would go to a pool its reporter cannot see.
            index = self.index or get_index()
            located = index.locate(lng, lat)
            if located is not None and index.township_of_cell[located] != self.user.township_id:
                self.add_error(
                    "lat",
                    _(
                        "This point lies in grid cell %(cell)s of another township: report it"
                        " there, or pick a place in your own township."
                    )
                    % {"cell": index.cells[located].code},
                )
        return data

    def clean_photos(self):
        from cases.services.photos import clean_photos

        photos = self.cleaned_data["photos"]
        held = self.cleaned_data.get("held_photos") or ()
        # Raises ValidationError with the reason for each bad file.
        clean_photos(photos, already=len(held))
        return photos


def errors_in_one_line(form: forms.Form) -> str:
    """A refused form's errors for a one-line message, each after its field's label
    ("Note: This field is required."); the form's own errors as they are. Punctuated in
    the active language: "说明：这个字段是必填项；原因：…" on a Chinese page."""
    return join_clauses(
        labelled(form[name].label, error) if name in form.fields else str(error)
        for name, errors in form.errors.items()
        for error in errors
    )


class TransitionForm(forms.Form):
    """Every transition carries the version of the case the page was rendered with, so
    that of two people acting at once the second is told the case changed."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)

    def __init__(self, *args, case: Case | None, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.case = case
        self.user = user
        if case is None:
            # Only rendered, shared by several cases: each case's button posts its version.
            del self.fields["expected_version"]
        else:
            self.fields["expected_version"].initial = case.version


class ReasonForm(TransitionForm):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))


class NoteForm(TransitionForm):
    note = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 2}))


class CommentForm(TransitionForm):
    comment = forms.CharField(
        label=_("Comment"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class VerifyForm(CommentForm):
    satisfaction = forms.TypedChoiceField(
        label=_("Satisfaction"),
        choices=[("", _("no rating"))] + [(str(n), str(n)) for n in range(1, 6)],
        coerce=int,
        empty_value=None,
        required=False,
    )

    field_order = ["expected_version", "satisfaction", "comment"]


# The empty choice of the lead department pickers (the pool, the case page, the admin's
# arbitration), which a dispatch refuses: it asks for a choice.
CHOOSE_THE_LEAD = _("Choose the lead department…")


class DispatchForm(CommentForm):
    lead = CodeOrIdChoiceField(label=_("Lead department"), queryset=Department.objects.none())
    whistle = forms.BooleanField(
        label=_("Blow the whistle: the assisting departments must report for duty"),
        required=False,
    )
    assisting = forms.ModelMultipleChoiceField(
        label=_("Assisting departments"),
        queryset=Department.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    field_order = ["expected_version", "lead", "whistle", "assisting", "comment"]

    def __init__(self, *args, suggested: Sequence[Department] | None = None, **kwargs):
        """`suggested`: the departments to offer first, in order (the case page passes
        `dispatch_suggestions`); by default the router's candidates, prefetched with the
        case. The only suggestion is preselected as the lead."""
        super().__init__(*args, **kwargs)
        queryset = Department.objects.order_by("code")
        self.fields["lead"].queryset = queryset
        self.fields["assisting"].queryset = queryset
        departments = list(queryset)  # once, for both fields' choices
        if suggested is None:
            suggested = list(self.case.candidate_departments.all()) if self.case else []
        first = [dept.pk for dept in suggested]
        by_pk = {d.pk: d for d in departments}
        candidates = [(pk, str(by_pk[pk])) for pk in first if pk in by_pk]
        others = [(d.pk, str(d)) for d in departments if d.pk not in first]
        if len(candidates) == 1 and not self.is_bound:
            self.fields["lead"].initial = candidates[0][0]
        lead_choices = [("", CHOOSE_THE_LEAD)]
        if candidates:
            lead_choices += [(_("Candidates"), candidates), (_("Other departments"), others)]
        else:
            lead_choices += others
        self.fields["lead"].choices = lead_choices
        self.fields["assisting"].choices = candidates + others

    def clean(self):
        data = super().clean()
        if self.case is not None and self.case.needs_arbitration and not data.get("comment"):
            # An arbitration is final, and the admin's asks for its reason too.
            self.add_error("comment", _("Say why this department leads: an arbitration is final."))
        lead, assisting = data.get("lead"), data.get("assisting") or []
        if lead is not None and lead in assisting:
            # Silently dropped, a whistle summoning only the lead would summon nobody.
            self.add_error(
                "assisting",
                _("%(department)s leads: it cannot also assist.") % {"department": lead},
            )
        elif data.get("whistle") and not assisting:
            self.add_error("assisting", _("Choose the departments the whistle summons."))
        return data


class CancelForm(ReasonForm):
    duplicate_of = forms.CharField(
        label=_("Duplicate of case number"), required=False, max_length=16
    )

    def clean_duplicate_of(self):
        from cases.selectors import cases_visible_to

        number = self.cleaned_data["duplicate_of"].strip()
        if not number:
            return None
        # Typed as read aloud or copied from a spreadsheet: 2026000292, 2026－000292.
        typed = re.fullmatch(r"(\d{4})\s*[-－—_]?\s*(\d{6})", number)
        if typed:
            number = f"{typed[1]}-{typed[2]}"
        original = cases_visible_to(self.user).filter(number=number).first()
        if original is None:
            raise forms.ValidationError(
                _("There is no case %(number)s that you may see."), params={"number": number}
            )
        if original.pk == self.case.pk:
            raise forms.ValidationError(_("A case cannot be a duplicate of itself."))
        return original


# Which form each transition of SPEC §2 takes (the URL names the transition).
TRANSITION_FORMS: dict[str, type[TransitionForm]] = {
    "dispatch": DispatchForm,
    "accept": TransitionForm,
    "return": ReasonForm,
    "resolve": NoteForm,
    "verify": VerifyForm,
    "reopen": ReasonForm,
    "suspend": ReasonForm,
    "resume": CommentForm,
    "cancel": CancelForm,
}


# Django's forms end each label with gettext(":"), which its own catalogue leaves ASCII in
# Chinese; marked here, the project's catalogue makes Chinese labels end in "：".
gettext_noop(":")

# No case is reported outside these years, and at the ends of the calendar a period's
# arithmetic (the day after its end, 30 days before it, midnight in UTC) overflows.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


def period_date_field(label, *, required: bool = False) -> forms.DateField:
    """A day of a period (the dashboard's, the admin's supervision page's), within bounds."""
    return forms.DateField(
        label=label,
        required=required,
        validators=[MinValueValidator(FIRST_DAY), MaxValueValidator(LAST_DAY)],
        widget=forms.DateInput(
            attrs={"type": "date", "min": FIRST_DAY.isoformat(), "max": LAST_DAY.isoformat()}
        ),
    )


class DateRangeForm(forms.Form):
    """A form with a `date_from` and a `date_to` (each subclass declares them, with its own
    labels): an end before the start is refused. /cases/ and /dashboard/ share it."""

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", _("The end date is before the start date."))
        return data


class CaseFilterForm(DateRangeForm):
    """The filters of /cases/ and of its CSV/XLSX export (the same GET parameters)."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    state = forms.MultipleChoiceField(
        label=_("State"), choices=State.choices, required=False, widget=forms.SelectMultiple
    )
    # Empty, a filter keeps every case: its empty choice says so, not "---------".
    category = CodeOrIdChoiceField(
        label=_("Category"),
        queryset=Category.objects.order_by("code"),
        required=False,
        empty_label=_("All categories"),
    )
    cell = CodeOrIdChoiceField(
        label=_("Grid cell"),
        queryset=GridCell.objects.order_by("code"),
        required=False,
        empty_label=_("All grid cells"),
    )
    department = CodeOrIdChoiceField(
        label=_("Department"),
        queryset=Department.objects.order_by("code"),
        required=False,
        empty_label=_("All departments"),
    )
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)
    date_from = forms.DateField(
        label=_("Reported from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("Reported until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        if user.township_id:
            self.fields["cell"].queryset = GridCell.objects.filter(
                township_id=user.township_id
            ).order_by("code")


class PhotosForm(forms.Form):
    photos = MultipleImageField(
        label=_("Photos"), help_text=_("Up to 5 JPEG, PNG or WebP images, 10 MB each.")
    )


class CaseNoteForm(forms.Form):
    text = forms.CharField(label=_("Internal note"), widget=forms.Textarea(attrs={"rows": 3}))
    photos = MultipleImageField(label=_("Photos"))
    # A report added to a duplicate brings the photos kept for it.
    held_photos = HeldPhotosField()

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["held_photos"].held_by = user


class CorrectionForm(TransitionForm):
    category = forms.ModelChoiceField(
        label=_("Category"),
        queryset=Category.objects.order_by("code"),
        required=False,
        empty_label=_("Not sure (the township decides)"),
    )
    # No cell: the case is placed outside the grid, and routed as such.
    cell = forms.ModelChoiceField(
        label=_("Grid cell"),
        queryset=GridCell.objects.none(),
        required=False,
        empty_label=_("outside the grid"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cell"].queryset = GridCell.objects.filter(
            township_id=self.case.township_id
        ).order_by("code")
        self.fields["category"].initial = self.case.category_id
        self.fields["cell"].initial = self.case.cell_id
