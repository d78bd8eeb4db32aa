"""The administrator's entries in the working-time calendar (departments/calendar.py reads
them with the chinesecalendar library's)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

# How many of the open cases a calendar entry moved the admin names by number; it counts
# them all. The cases app, which moves them, leaves the numbers on the entry.
MOVED_CASES_NAMED = 10


class HolidayQuerySet(models.QuerySet):
    def delete(self):
        """One change of the calendar for all the entries (departments/holidays.py): the
        running deadlines are moved once, from the calendar with them to the one without."""
        from departments.holidays import holidays_remove

        removed = holidays_remove(self)
        return len(removed.removed), {self.model._meta.label: len(removed.removed)}


class Holiday(models.Model):
    """An administrator's entry in the working calendar, for years the library does not know
    yet or for local corrections. Overrides the library for its date."""

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", _("public holiday (day off)")
        WORKDAY = "workday", _("make-up working day (调休)")

    date = models.DateField(_("date"), unique=True)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=100, blank=True)

    objects = HolidayQuerySet.as_manager()

    class Meta:
        ordering = ["date"]
        verbose_name = _("holiday or make-up day")
        verbose_name_plural = _("holidays and make-up days")

    def __str__(self):
        return f"{self.date} {self.get_kind_display()} {self.name}".strip()
