from django import template

from cases.labels import action_label as _action_label
from cases.labels import state_label as _state_label

register = template.Library()


@register.filter
def action_label(action: str) -> str:
    return _action_label(action)


@register.filter
def state_label(state: str) -> str:
    return _state_label(state)


@register.filter
def lookup(mapping: dict, key: str):
    return mapping.get(key) if hasattr(mapping, "get") else None
