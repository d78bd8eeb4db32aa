"""The admin's date picker, described for a screen reader by its field's help text and
error on every Django: from 6.0 the picker points aria-describedby at a time zone warning
alone, which exists only where the browser's zone differs from the server's."""

from django.contrib.admin.widgets import AdminDateWidget
from django.db import models


class DescribedDateWidget(AdminDateWidget):
    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        widget_attrs = context["widget"]["attrs"]
        if described_by := (attrs or {}).get("aria-describedby"):
            widget_attrs["aria-describedby"] = described_by
        else:
            widget_attrs.pop("aria-describedby", None)
        return context


# For a ModelAdmin's formfield_overrides.
DESCRIBED_DATES = {models.DateField: {"widget": DescribedDateWidget}}
