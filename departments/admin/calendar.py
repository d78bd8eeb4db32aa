"""The working calendar: public holidays and make-up working days; the administrator who
changes one is told which open cases' deadlines or escalation times moved with it."""

from django.conf import settings
from django.contrib import admin, messages
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from departments.calendar import calendar_notes, calendar_warnings, working_hours_text
from departments.models import MOVED_CASES_NAMED, Holiday
from departments.wording import join_names


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    list_display = ["date", "kind", "name"]
    list_filter = ["kind"]
    date_hierarchy = "date"
    search_fields = ["name"]

    # Running deadlines follow the calendar (cases/signals.py leaves the cases it moved on
    # each entry): the administrator is told how many, not only that the entry was saved.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        self.tell_moved(request, [obj])

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        self.tell_moved(request, [obj])

    def delete_queryset(self, request, queryset):
        self.tell_moved(request, queryset.delete_each())

    @staticmethod
    def tell_moved(request, entries):
        moved = set().union(*(getattr(entry, "cases_moved", ()) for entry in entries))
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
            messages.info(request, told)

    def changelist_view(self, request, extra_context=None):
        # Years the calendar does not know count weekends only: say so, do not guess quietly.
        for warning in calendar_warnings():
            messages.warning(request, warning)
        for note in calendar_notes():
            messages.info(request, note)
        # What a day off takes from a deadline: these hours (WORKING_HOURS), not 24.
        extra_context = {
            **(extra_context or {}),
            "subtitle": _("Deadlines count working time: %(hours)s (%(zone)s) on working days.")
            % {"hours": working_hours_text(), "zone": settings.TIME_ZONE},
        }
        return super().changelist_view(request, extra_context)
