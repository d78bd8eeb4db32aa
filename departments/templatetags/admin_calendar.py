"""The working calendar's warnings for the admin index (SPEC §4: say so, do not guess)."""

from django import template

from departments.calendar import calendar_warnings as _calendar_warnings

register = template.Library()


@register.simple_tag
def calendar_warnings() -> list[str]:
    return _calendar_warnings()
