"""The code townships, grid cells, departments and categories are keyed by, checked in the
admin as the import checks it (departments/importers/checks.py): what is saved here exports
and imports back."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from departments.importers.checks import CODE_PATTERN, not_a_code


class CodeForm(forms.ModelForm):
    """A code as the import reads it: one the import would refuse makes an export that
    does not import back."""

    # A township's code and a grid cell's share one namespace: a rule's scope names either.
    other_kind_of_scope = None

    def clean_code(self):
        code = self.cleaned_data["code"]
        if not CODE_PATTERN.match(code):
            raise ValidationError(not_a_code(code))
        if self.other_kind_of_scope and self.other_kind_of_scope.objects.filter(code=code).exists():
            raise ValidationError(
                gettext("“%(code)s” is both a township and a grid cell code: rename one.")
                % {"code": code}
            )
        return code
