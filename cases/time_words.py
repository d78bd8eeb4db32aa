"""Working time in words: durations counted in working days and hours, a running or
stopped clock, the time left to report for duty."""

from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext, ngettext, ngettext_lazy

from cases.models import State
from cases.selectors.deadlines import working_seconds_until
from departments.calendar import working_day_seconds

# The units of the pages' "waiting for 2 months" and "3 days left": Django's own words,
# which its Chinese catalogue gives as "2 月" (read as February) and "3 日"; ours as
# "2 个月" and "3 天".
TIME_WORDS = {
    "year": ngettext_lazy("%(num)d year", "%(num)d years", "num"),
    "month": ngettext_lazy("%(num)d month", "%(num)d months", "num"),
    "week": ngettext_lazy("%(num)d week", "%(num)d weeks", "num"),
    "day": ngettext_lazy("%(num)d day", "%(num)d days", "num"),
    "hour": ngettext_lazy("%(num)d hour", "%(num)d hours", "num"),
    "minute": ngettext_lazy("%(num)d minute", "%(num)d minutes", "num"),
}


def deadline_just_passed(overdue_seconds: float) -> bool:
    """Whether a deadline passed less than a minute of working time ago, which
    `format_duration` would tell as "0 minutes". It happens every evening: working time does
    not run at night, so a case due at 17:00 is still 0 minutes overdue at 20:00 (and the
    sweep escalates it then). Callers say "overdue, the deadline has just passed" instead."""
    return overdue_seconds < 60


def format_duration(seconds: float) -> str:
    """Working time for people: '3 days 2 h', '3 h 20 min', '45 minutes', where a day is
    one working day (its working periods added up, a midday break left out), so that a case
    weeks late does not read as "1238 hours". Past a day, minutes say nothing a reader
    needs; under a minute, "less than a minute". The caller says that it is working time
    ("… of working time", the column's title)."""
    if 0 < seconds < 60:
        # Not "0 minutes": a deadline half a minute of working time away (due at 09:00:30,
        # read all evening before) is still ahead.
        return gettext("less than a minute")
    minutes = max(0, int(seconds) // 60)
    days, minutes = divmod(minutes, working_day_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if days and hours:
        return ngettext("%(days)d day %(hours)d h", "%(days)d days %(hours)d h", days) % {
            "days": days,
            "hours": hours,
        }
    if days:
        return ngettext("%(days)d day", "%(days)d days", days) % {"days": days}
    if hours and minutes:
        return gettext("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
    if hours:
        return ngettext("%(hours)d hour", "%(hours)d hours", hours) % {"hours": hours}
    return ngettext("%(minutes)d minute", "%(minutes)d minutes", minutes) % {"minutes": minutes}


def working_time_words(
    seconds_left: float | None, *, overdue: bool = False, titled: bool = False
) -> str:
    """A running deadline in working time: "2 hours of working time left", "overdue by
    1 day 2 h of working time"; empty when no clock runs. `overdue` is the calendar's word
    (the case's `is_overdue`): in the evening after a 17:00 deadline no working time has
    passed, yet the case is overdue. `titled`: under a heading that already says it is
    working time (the admin's column), "2 hours left", "overdue by 1 day 2 h"."""
    if seconds_left is None:
        return ""
    if not overdue:
        words = gettext("%(left)s left") if titled else gettext("%(left)s of working time left")
        return words % {"left": format_duration(seconds_left)}
    late = abs(seconds_left)
    if deadline_just_passed(late):
        return just_overdue_words()
    words = (
        gettext("overdue by %(since)s")
        if titled
        else gettext("overdue by %(since)s of working time")
    )
    return words % {"since": format_duration(late)}


def stopped_clock_words(case, *, titled: bool = False) -> str:
    """A suspended case's stopped clock and the working time it keeps for its resume
    ("clock stopped: 1 hour of working time left"); empty for any other case."""
    kept = case.paused_remaining_seconds
    if case.state != State.SUSPENDED or kept is None:
        return ""
    return gettext("clock stopped: %(kept)s") % {
        "kept": working_time_words(kept, overdue=kept < 0, titled=titled)
    }


def just_overdue_words() -> str:
    """A case past its deadline by less than a minute of working time (`deadline_just_passed`):
    overdue, though "overdue by 0 minutes" would say nothing."""
    return gettext("overdue, the deadline has just passed")


def summons_time_left(case, *, calendar=None, now: datetime | None = None) -> str:
    """The working time left to report for duty on a case of `with_summons_due` ("Report
    for duty: 2 hours left", "Report for duty: overdue by 1 h"), for a column headed
    "working time left"; empty when the reader's department has no such summons on it."""
    due = getattr(case, "summons_due_at", None)
    if due is None:
        return ""
    now = now or timezone.now()
    seconds = working_seconds_until(due, now=now, calendar=calendar)
    left = working_time_words(seconds, overdue=due <= now, titled=True)
    return gettext("Report for duty: %(left)s") % {"left": left}
