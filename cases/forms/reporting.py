"""The report form of /cases/new/ (SPEC §6)."""

import functools
import uuid

from django import forms
from django.utils.translation import gettext_lazy as _

from cases.forms.fields import (
    CategoryChoiceField,
    CodeOrIdChoiceField,
    HeldPhotosField,
    MultipleImageField,
    PhoneField,
    validate_phone,
)
from cases.models import MAX_DESCRIPTION_LENGTH, Case, Urgency
from departments.models import Category, GridCell, User
from departments.routing import RoutingIndex, get_index


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
        # Shown before anything is picked too: it must not read as a place already taken.
        empty_label=_("No cell chosen: the point picked on the map places the case"),
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
    # The columns' lengths: a longer value is a form error on its field, never cut to fit.
    address = forms.CharField(
        label=_("Address"), max_length=Case._meta.get_field("address").max_length, required=False
    )
    description = forms.CharField(
        label=_("Description"),
        max_length=MAX_DESCRIPTION_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    urgency = forms.ChoiceField(label=_("Urgency"), choices=Urgency.choices, initial=Urgency.NORMAL)
    reporter_name = forms.CharField(
        label=_("Reporter name"),
        max_length=Case._meta.get_field("reporter_name").max_length,
        required=False,
    )
    reporter_phone = PhoneField(
        label=_("Reporter phone"),
        max_length=Case._meta.get_field("reporter_phone").max_length,
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
    # twice (a double click, a retry after a timeout) reports one case. A value that is no
    # UUID (an altered page) is dropped rather than refused: the form would show it again,
    # and the reporter could never send the report.
    idempotency_key = forms.CharField(required=False, widget=forms.HiddenInput)

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

    def clean_idempotency_key(self) -> uuid.UUID | None:
        try:
            return uuid.UUID(self.cleaned_data["idempotency_key"])
        except ValueError:
            return None

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
                # On the location's own field: the point's fields are hidden, and a hidden
                # field's error is shown nowhere.
                self.add_error(
                    "cell",
                    _(
                        "This point lies in grid cell %(cell)s of another township: report it"
                        " there, or pick a place in your own township."
                    )
                    % {"cell": index.cells[located].code},
                )
        return data

    def clean_photos(self):
        """The photos checked and re-encoded, ready to store (`CleanPhoto`); with a bad
        file among them, the good ones wait in `photos_passing` for the page shown again."""
        from cases.services.held_photos import held_as_cleaned
        from cases.services.photo_checks import clean_each_photo

        photos = self.cleaned_data["photos"]
        held = self.cleaned_data.get("held_photos") or ()
        cleaned, errors = clean_each_photo(photos, beside=held_as_cleaned(held))
        if errors:
            self.photos_passing = cleaned
            raise forms.ValidationError(errors)
        return cleaned
