"""The years the tests count working time in, chosen so that a new release of the calendar
library cannot change what they expect.

chinesecalendar learns each year once the State Council publishes its holidays, around
November of the year before. A test written for "next year, which the library does not
know yet" broke the day a release learnt it (with 2027's Spring Festival, some thirty
tests at once). Tests of a year nobody knows use UNKNOWN_YEAR, which no release will know
for decades; tests of the step from a year the library knows to one it does not use the
library's own last year.
"""

from departments.calendar import library_years

# Its days fall on the same weekdays as 2027's, and the year before's on 2026's.
UNKNOWN_YEAR = 2055

LAST_YEAR_THE_LIBRARY_KNOWS = max(library_years())


def unknown_year_date(month: int, day: int) -> str:
    """A day of UNKNOWN_YEAR as a form's date field takes it: "2055-02-08"."""
    return f"{UNKNOWN_YEAR}-{month:02}-{day:02}"
