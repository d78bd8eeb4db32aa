"""/dashboard/: the supervisors' figures, charts and early warnings."""

from datetime import date, timedelta

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from cases.forms import DateRangeForm, period_date_field
from cases.permissions import may_see_dashboard
from cases.selectors.cells import cells_geojson
from cases.selectors.dashboard import DEFAULT_PERIOD_DAYS, Period, cell_map, dashboard_data
from departments import wording
from departments.models import Township


class DashboardForm(DateRangeForm):
    date_from = period_date_field(gettext_lazy("From"))
    date_to = period_date_field(gettext_lazy("Until"))
    township = forms.ModelChoiceField(
        label=gettext_lazy("Area"),
        queryset=Township.objects.order_by("code"),
        required=False,
        empty_label=gettext_lazy("All townships"),
    )


def with_tooltips(cells: dict) -> dict:
    """Each cell's tooltip in the reader's words and punctuation ("North 1: open 3,
    overdue 2", "北一网格：未结 3，已超期 2"); the map's script draws it as text."""
    for feature in cells["features"]:
        cell = feature["properties"]
        # Whole phrases: makemessages cannot see a gettext call inside an f-string.
        counts = [
            _("open %(count)s") % {"count": cell["open"]},
            _("overdue %(count)s") % {"count": cell["overdue"]},
        ]
        cell["tooltip"] = wording.labelled(cell["name"], wording.join_phrases(counts))
    return cells


def short_date(day: str) -> str:
    return date_format(date.fromisoformat(day), "SHORT_DATE_FORMAT")


def axis_date(day: str) -> str:
    """A day under the chart: month and day only ("11/7", "11月7日"). The full date
    ("2026年11月7日"), at 45° under every point, left a phone's chart a 70 px high plot;
    the tooltip still names the full date."""
    # Translators: a Django date format for the chart's axis: month and day, no year.
    return date_format(date.fromisoformat(day), pgettext("chart axis date format", "n/j"))


@login_required
def dashboard(request):
    if not may_see_dashboard(request.user):
        raise PermissionDenied(_("The dashboard is for supervisors."))
    form = DashboardForm(request.GET or None)
    if request.user.township_id:
        del form.fields["township"]  # a township's supervisor sees only their township
    if form.is_valid():
        data = form.cleaned_data
    elif form.is_bound:
        # What was refused (the form says why) is not used, and only that: refused dates
        # (unreadable, reversed, out of range) give the default period, as the heading says;
        # an unknown area gives every township of the reader's.
        data = dict(form.cleaned_data)
        if "date_from" in form.errors or "date_to" in form.errors:
            data.pop("date_from", None)
            data.pop("date_to", None)
    else:
        data = {}
    today = timezone.localdate()
    # A start alone runs to today; one after today is a period of that day, never reversed.
    end = data.get("date_to") or max(today, data.get("date_from") or today)
    start = data.get("date_from") or end - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    # The boxes show the period the heading names, to be moved from there: a box left
    # empty (a start alone runs to today) shows the day it stood for.
    shown = {"date_from": start, "date_to": end}
    if not form.is_bound:
        form.initial.update(shown)
    else:
        form.data = form.data.copy()
        for name, day in shown.items():
            if not form.data.get(name) and name not in form.errors:
                form.data[name] = day.isoformat()
    township = data.get("township")
    township_id = request.user.township_id or (township.pk if township else None)
    period = Period(start, end)
    figures = dashboard_data(request.user, period=period, township_id=township_id)
    context = {
        "form": form,
        # The township chosen, for links to the case list that must count as the page.
        "township": township,
        "period": period,
        "figures": figures,
    }
    if figures["building"]:  # no figures yet: the page says so, not zeros
        return render(request, "cases/dashboard.html", context)
    chart = {
        # Read by people on the axis: the reader's month and day (the series keep ISO
        # days). A bucket is labelled with its first day counted, the period's start for a
        # week that began before it.
        "labels": [axis_date(row["bucket"]) for row in figures["series"]],
        # The tooltip names the full date; a week's says which days it counts, so a cut
        # first or last week (fewer cases for fewer days) is recognisable as one.
        "spans": [
            _("%(start)s to %(end)s")
            % {"start": short_date(row["bucket"]), "end": short_date(row["last"])}
            if period.weekly
            else short_date(row["bucket"])
            for row in figures["series"]
        ],
        # Each scale says what it counts: three scales without titles (0–100, 0–15, 0–5)
        # left nobody sure which line read which.
        "axes": {
            "y": _("Rate (%)"),
            "y2": _("Cases reported"),
            "y3": _("Satisfaction (1–5)"),
        },
        "series": {
            key: [row[key] for row in figures["series"]]
            for key in (
                "response_rate",
                "resolution_rate",
                "fallback_rate",
                "return_rate",
                "satisfaction",
                "total",
            )
        },
        "names": {
            "response_rate": _("Response rate %"),
            "resolution_rate": _("Resolution rate %"),
            "fallback_rate": _("Fallback rate %"),
            "return_rate": _("Return rate %"),
            "satisfaction": _("Satisfaction (1–5)"),
            "total": _("Cases reported"),
        },
    }
    context.update(
        chart=chart,
        cells=with_tooltips(cell_map(figures["by_cell"], cells_geojson(township_id))),
        map_options={"tileUrl": getattr(settings, "MAP_TILE_URL", "")},
    )
    return render(request, "cases/dashboard.html", context)
