"""The period and filter forms of /cases/, its exports, the dashboard and the admin's
supervision page."""

from datetime import date

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

from cases.forms.fields import CodeOrIdChoiceField
from cases.models import State
from departments.models import Category, Department, GridCell, Township, User

# No case is reported outside these years, and at the ends of the calendar a period's
# arithmetic (the day after its end, 30 days before it, midnight in UTC) overflows.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


class FlagCheckbox(forms.CheckboxInput):
    """A checkbox also read from links people write by hand: `?overdue=0`, `off` or `no`
    turns the filter off, where Django's checkbox reads any value but `false` as ticked."""

    def value_from_datadict(self, data, files, name):
        value = data.get(name)
        if isinstance(value, str) and value.strip().lower() in {"", "0", "off", "no", "false"}:
            return False
        return super().value_from_datadict(data, files, name)


def date_input(**attrs) -> forms.DateInput:
    """An <input type=date>: its value must be ISO whatever the language, or the browser
    shows it empty (zh-hans would otherwise render 2026/11/05)."""
    return forms.DateInput(format="%Y-%m-%d", attrs={"type": "date", **attrs})


def period_date_field(label, *, required: bool = False) -> forms.DateField:
    """A day of a period (the dashboard's, the admin's supervision page's), within bounds."""
    return forms.DateField(
        label=label,
        required=required,
        validators=[MinValueValidator(FIRST_DAY), MaxValueValidator(LAST_DAY)],
        widget=date_input(min=FIRST_DAY.isoformat(), max=LAST_DAY.isoformat()),
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
    # For those who see several townships (the dashboard's "overdue now" link of one
    # township lands here); township staff see their own only and are not offered it.
    township = CodeOrIdChoiceField(
        label=_("Township"),
        queryset=Township.objects.order_by("code"),
        required=False,
        empty_label=_("All townships"),
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
    overdue = forms.BooleanField(label=_("Overdue only"), required=False, widget=FlagCheckbox)
    # A whistle's summons the dispatcher follows up: departments still to report for duty.
    awaiting_duty = forms.BooleanField(
        label=_("Summoned departments yet to report for duty"),
        required=False,
        widget=FlagCheckbox,
    )
    date_from = forms.DateField(label=_("Reported from"), required=False, widget=date_input())
    date_to = forms.DateField(label=_("Reported until"), required=False, widget=date_input())

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        if user.township_id:
            del self.fields["township"]
            self.fields["cell"].queryset = GridCell.objects.filter(
                township_id=user.township_id
            ).order_by("code")
