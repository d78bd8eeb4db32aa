"""The administrator's entries in the working-time calendar (departments/calendar.py reads
them with the chinesecalendar library's)."""

from datetime import date

from django.db import models, transaction
from django.utils import timezone
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

    # The entry and the change it makes to the calendar (its receivers, departments/
    # signals.py) commit together, also when saved outside the admin's transaction.
    def save(self, *args, **kwargs):
        with transaction.atomic():
            super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        with transaction.atomic():
            return super().delete(*args, **kwargs)


class CalendarChange(models.Model):
    """One change of the working calendar: entries added, changed or removed together (one
    entry, a run of days, a selection), with each changed day's kind before it. Kept so that
    the running deadlines can follow the change after it has committed, in the background
    when there are many (cases/services/calendar_changes.py): the calendar just before a
    change is the present one with it and every later change undone. Numbered in commit
    order (departments/signals.py takes a lock before writing one)."""

    class Source(models.TextChoices):
        ENTRIES = "entries", _("holiday entries")
        LIBRARY = "library", _("a new year of the calendar library")

    made_at = models.DateTimeField(_("made at"), default=timezone.now)
    source = models.CharField(
        _("made by"),
        max_length=16,
        choices=Source,
        default=Source.ENTRIES,
        db_default=Source.ENTRIES,  # as a process from before the column writes it
    )
    first_day = models.DateField(_("first day changed"))
    # {"2027-02-08": "holiday" | "workday" | None}: None for a day that had no entry.
    kinds_before = models.JSONField(_("kinds before the change"))
    # Set by the cases app once every running deadline across the change has moved.
    followed_at = models.DateTimeField(_("deadlines moved at"), null=True, blank=True)
    cases_moved = models.PositiveIntegerField(_("cases moved"), default=0)

    class Meta:
        ordering = ["id"]
        verbose_name = _("calendar change")
        verbose_name_plural = _("calendar changes")
        indexes = [
            models.Index(
                fields=["id"],
                condition=models.Q(followed_at__isnull=True),
                name="calendar_change_pending",
            )
        ]

    def __str__(self):
        return f"{self.made_at:%Y-%m-%d %H:%M} {', '.join(sorted(self.kinds_before))}"

    def days_before(self) -> dict[date, str | None]:
        return {date.fromisoformat(day): kind for day, kind in self.kinds_before.items()}


class CalendarLibraryYear(models.Model):
    """A year the calendar library (chinesecalendar) knew when the running deadlines last
    followed it. A release that learns a year (the State Council publishes each around
    November) turns that year's days from the week's into the official ones; these rows
    tell the first `migrate` on the new release which years it learnt, so that the
    deadlines follow them (departments/signals.py)."""

    year = models.PositiveSmallIntegerField(_("year"), primary_key=True)
    followed_at = models.DateTimeField(_("followed at"), default=timezone.now)

    class Meta:
        ordering = ["year"]
        verbose_name = _("year of the calendar library")
        verbose_name_plural = _("years of the calendar library")

    def __str__(self):
        return str(self.year)
