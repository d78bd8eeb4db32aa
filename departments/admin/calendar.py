"""The working calendar: public holidays and make-up working days, one at a time or a run
of days at once; the administrator who changes them is told which open cases' deadlines
or escalation times moved with them, and finds each change and how many it moved in the
list of calendar changes."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from departments.admin.widgets import DESCRIBED_DATES, DescribedDateWidget
from departments.calendar import calendar_notes, calendar_warnings, working_hours_text
from departments.holidays import MAX_RUN_DAYS, holidays_enter, holidays_remove
from departments.models import MOVED_CASES_NAMED, CalendarChange, Holiday
from departments.wording import join_names, join_sentences


class HolidayRunForm(forms.Form):
    required_css_class = "required"  # bold labels, as on the admin's own forms

    first = forms.DateField(label=_("First day"), widget=DescribedDateWidget)
    last = forms.DateField(
        label=_("Last day"),
        required=False,
        widget=DescribedDateWidget,
        help_text=_("Leave empty for the first day alone."),
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=Holiday.Kind.choices)
    name = forms.CharField(
        label=_("Name"), max_length=100, required=False, help_text=_("For example 春节.")
    )

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("first"), cleaned.get("last")
        if first is None:
            return cleaned
        if last is None:
            cleaned["last"] = last = first
        if last < first:
            self.add_error("last", _("The last day is before the first day."))
        elif (last - first).days >= MAX_RUN_DAYS:
            self.add_error(
                "last",
                _("At most %(count)d days at once: enter a longer run in parts.")
                % {"count": MAX_RUN_DAYS},
            )
        return cleaned


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    formfield_overrides = DESCRIBED_DATES
    list_display = ["date", "kind", "name"]
    list_filter = ["kind"]
    date_hierarchy = "date"
    search_fields = ["name"]
    change_list_template = "admin/departments/holiday/change_list.html"

    def get_urls(self):
        return [
            path(
                "add-run/",
                self.admin_site.admin_view(self.add_run_view),
                name="departments_holiday_add_run",
            ),
            *super().get_urls(),
        ]

    def add_run_view(self, request):
        """Several consecutive days at once (the Spring Festival): one transaction, and the
        running deadlines moved once for all of them rather than once a day."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = HolidayRunForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            try:
                entered = holidays_enter(
                    first=data["first"], last=data["last"], kind=data["kind"], name=data["name"]
                )
            except IntegrityError:
                # Another administrator added one of these days meanwhile: nothing was saved.
                form.add_error(None, _("One of these days was entered meanwhile: try again."))
            else:
                self.tell_entered(request, entered)
                return HttpResponseRedirect(reverse("admin:departments_holiday_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Add several days"),
            "form": form,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/departments/holiday/add_run.html", context)

    def tell_entered(self, request, entered) -> None:
        told = []
        if entered.added:
            told.append(
                ngettext("Added %(count)d entry.", "Added %(count)d entries.", len(entered.added))
                % {"count": len(entered.added)}
            )
        if entered.changed:
            told.append(
                ngettext(
                    "Changed %(count)d existing entry: %(days)s.",
                    "Changed %(count)d existing entries: %(days)s.",
                    len(entered.changed),
                )
                % {
                    "count": len(entered.changed),
                    "days": join_names(day.isoformat() for day in entered.changed),
                }
            )
        if not told:
            messages.info(
                request, gettext("These days had these entries already: nothing changed.")
            )
            return
        if moved := self.moved_text([entered]):
            told.append(moved)
        messages.success(request, join_sentences(told))

    # Running deadlines follow the calendar (departments/signals.py leaves the cases moved
    # on each entry): the administrator is told how many, not only that the entry was saved.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        self.tell_moved(request, [obj])

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        self.tell_moved(request, [obj])

    def delete_queryset(self, request, queryset):
        self.tell_moved(request, [holidays_remove(queryset)])

    @classmethod
    def tell_moved(cls, request, entries):
        if moved := cls.moved_text(entries):
            messages.info(request, moved)

    @staticmethod
    def moved_text(entries) -> str:
        """How many cases the entries' change moved, naming the first few; "" for none."""
        if any(getattr(entry, "deadlines_moving_later", False) for entry in entries):
            return gettext(
                "Many running deadlines cross these days: they are moving with the calendar "
                "in the background, and the escalation sweep waits for them."
            )
        moved = set().union(*(getattr(entry, "cases_moved", ()) for entry in entries))
        told = ""
        if moved:
            # Next year's holidays often move only a case's later escalation times, not the
            # deadline its page shows: say so, and name the cases to look at.
            numbers = sorted(set().union(*(getattr(e, "case_numbers_moved", ()) for e in entries)))
            named = join_names(numbers[:MOVED_CASES_NAMED])
            more = len(moved) - MOVED_CASES_NAMED
            if more > 0:
                # Said in words: a "…" after the list read "2026-000150、…。" in Chinese.
                # More than ten: always the plural.
                told = gettext(
                    "The deadlines or escalation times of %(count)d open cases moved with the "
                    "calendar: %(cases)s and %(more)d more."
                ) % {"count": len(moved), "cases": named, "more": more}
            else:
                told = ngettext(
                    "The deadline or escalation times of %(count)d open case moved with the "
                    "calendar: %(cases)s.",
                    "The deadlines or escalation times of %(count)d open cases moved with the "
                    "calendar: %(cases)s.",
                    len(moved),
                ) % {"count": len(moved), "cases": named}
        return told

    def changelist_view(self, request, extra_context=None):
        # Years the calendar does not know count weekends only: say so, do not guess quietly.
        # Only on the list shown: an action's POST (a bulk delete) redirects to the list,
        # which would repeat them, or tell of the entries as they were before the action.
        if request.method == "GET":
            for warning in calendar_warnings():
                messages.warning(request, warning)
            for note in calendar_notes():
                messages.info(request, note)
            if waiting := CalendarChange.objects.filter(followed_at=None).first():
                messages.info(
                    request,
                    gettext(
                        "The running deadlines are still moving with the calendar change "
                        "made at %(time)s; the escalation sweep waits for them."
                    )
                    % {"time": date_format(localtime(waiting.made_at), "DATETIME_FORMAT")},
                )
        # What a day off takes from a deadline: these hours (WORKING_HOURS), not 24.
        extra_context = {
            **(extra_context or {}),
            "subtitle": _("Deadlines count working time: %(hours)s (%(zone)s) on working days.")
            % {"hours": working_hours_text(), "zone": settings.TIME_ZONE},
        }
        return super().changelist_view(request, extra_context)


@admin.register(CalendarChange)
class CalendarChangeAdmin(admin.ModelAdmin):
    """Each change of the holiday entries, or year the calendar library learnt, and how
    many open cases' deadlines it moved, when they had moved: read-only, written by the
    changes themselves."""

    list_display = ["made_at", "source", "days", "followed", "cases_moved"]
    list_display_links = None
    date_hierarchy = "made_at"
    ordering = ["-pk"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("days changed"))
    def days(self, change):
        return join_names(sorted(change.kinds_before))

    @admin.display(description=_("deadlines moved at"), ordering="followed_at")
    def followed(self, change):
        if change.followed_at is None:
            return gettext("still moving")
        return date_format(localtime(change.followed_at), "DATETIME_FORMAT")
