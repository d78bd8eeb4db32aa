"""The administrator's entries in the working-time calendar (departments/calendar.py reads
them with the chinesecalendar library's)."""

from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

# How many of the open cases a calendar entry moved the admin names by number; it counts
# them all. The cases app, which moves them, leaves the numbers on the entry.
MOVED_CASES_NAMED = 10


class HolidayQuerySet(models.QuerySet):
    def delete(self):
        deleted = self.delete_each()
        return len(deleted), {self.model._meta.label: len(deleted)}

    def delete_each(self) -> list["Holiday"]:
        """Delete the entries one at a time (the admin's "delete selected" comes here), and
        return them. Each entry's post_delete listener moves running deadlines from the
        calendar with that entry to the calendar without it; one DELETE of several removes
        them all before the first listener runs, which then measures the deadlines on a
        calendar that never was."""
        with transaction.atomic():
            entries = list(self)
            for entry in entries:
                entry.delete()
        return entries


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
