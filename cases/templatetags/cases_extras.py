from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from cases.labels import action_label as _action_label
from cases.labels import state_label as _state_label
from cases.labels import transition_help as _transition_help
from cases.labels import transition_label as _transition_label
from cases.privacy import can_see_personal_data
from cases.privacy import description_for as _description_for
from cases.privacy import masked_unless as _masked_unless
from cases.time_words import TIME_WORDS
from cases.time_words import format_duration as _format_duration
from cases.time_words import stopped_clock_words as _stopped_clock_words
from departments.wording import aside as _aside
from departments.wording import join_names as _join_names
from departments.wording import label_separator as _label_separator
from departments.wording import list_separator as _list_separator
from departments.wording import phrase_separator as _phrase_separator
from departments.wording import sentence_separator as _sentence_separator

register = template.Library()


@register.filter
def action_label(action: str) -> str:
    return _action_label(action)


@register.filter
def state_label(state: str) -> str:
    return _state_label(state)


@register.filter
def transition_help(name: str) -> str:
    """`{{ name|transition_help }}`: what the transition does, above its form."""
    return _transition_help(name)


@register.filter
def transition_label(name: str, case=None) -> str:
    """`{{ "dispatch"|transition_label:case }}`: its button's word on that case ("arbitrate"
    for a case waiting for arbitration)."""
    return _transition_label(name, case)


@register.filter
def stopped_clock(case) -> str:
    """`{{ case|stopped_clock }}`: a suspended case's stopped clock and the working time it
    keeps, from the case's own row (no query: fit for a list); empty for any other case."""
    return _stopped_clock_words(case)


@register.filter
def lookup(mapping: dict, key: str):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def join_names(names) -> str:
    """`{{ departments|join_names }}`: 城管局、市场监管局 on a Chinese page, "A, B" on an
    English one. Escaped like any other value."""
    return _join_names(names)


@register.filter
def since(moment) -> str:
    """`{{ case.created_at|since }}`: Django's `timesince` in our words (`TIME_WORDS`)."""
    return timesince(moment, time_strings=TIME_WORDS) if moment else ""


@register.filter
def duration(seconds) -> str:
    """`{{ case.working_seconds_left|duration }}`: working time as every page writes it
    ("6 days 7 h"), where Django's `timeuntil` would give calendar time ("1 week, 3 days");
    the template says it is working time. Empty for None (no clock runs)."""
    return "" if seconds is None else _format_duration(seconds)


@register.filter(is_safe=True)
def aside(text) -> str:
    """`{{ step.actor|aside }}`: " (Wang Fang)" in English, "（王芳）" in Chinese, to follow
    what it qualifies with no space written before it. Escaped like any other value."""
    return _aside(text)


@register.simple_tag
def list_separator() -> str:
    """Between the items of a list drawn with markup of their own (`{% for %}` loops)."""
    return _list_separator()


@register.simple_tag
def phrase_separator() -> str:
    """Between the phrases of one sentence a template puts together: "，" in Chinese."""
    return _phrase_separator()


@register.simple_tag
def sentence_separator() -> str:
    """After a whole sentence a template writes, before the next or a quoted remark
    (`…{% endblocktranslate %}{% sentence_separator %}“{{ comment }}”`): none in Chinese."""
    return _sentence_separator()


@register.simple_tag
def label_separator(line_end: bool = False) -> str:
    """After a label in plain text (`{% translate "Owner" %}{% label_separator %}…`): "："
    in Chinese, ": " otherwise; `line_end=True` before a line break, with no space."""
    separator = _label_separator()
    return separator.rstrip() if line_end else separator


@register.inclusion_tag("_figures_notice.html")
def figures_notice(as_of, building: bool = False) -> dict:
    """`{% figures_notice as_of building %}`: the notice of a page that read its roll-up
    while another refresh was under way: its figures as of `as_of` (the time alone the same
    day), or, `building`, none yet (cases/services/rollups.py)."""
    as_of = timezone.localtime(as_of) if as_of else None
    same_day = as_of is not None and as_of.date() == timezone.localdate()
    time_format = "H:i" if same_day else "Y-m-d H:i"
    return {"as_of": as_of, "as_of_format": time_format, "building": building}


@register.filter
def description_for(case, user) -> str:
    """`{{ case|description_for:user }}`: the description, its contacts masked for readers
    who see the reporter masked (cases/privacy.py)."""
    return _description_for(user, case)


@register.filter
def shows_contacts_to(case, user) -> bool:
    """`{% with sees_contacts=case|shows_contacts_to:user %}`: whether `user` reads the
    contacts in `case`'s texts unmasked, for a page of many cases (cases/privacy.py)."""
    return can_see_personal_data(user, case)


@register.filter
def masked_unless(text: str, sees_contacts: bool) -> str:
    """`{{ note.text|masked_unless:sees_contacts }}` (cases/privacy.py)."""
    return _masked_unless(text, sees_contacts)


@register.simple_tag
def recent_steps(user):
    """`{% recent_steps user as steps %}`: the admin index's "My recent steps"."""
    from cases.selectors.trail import recent_steps_of

    return recent_steps_of(user)
