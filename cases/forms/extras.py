"""Photos and internal notes added to a case."""

from django import forms
from django.utils.translation import gettext_lazy as _

from cases.forms.fields import HeldPhotosField, MultipleImageField
from cases.forms.transitions import MAX_TEXT_LENGTH
from cases.models import MAX_DESCRIPTION_LENGTH
from departments.models import User


class PhotosForm(forms.Form):
    photos = MultipleImageField(
        label=_("Photos"), help_text=_("Up to 5 JPEG, PNG or WebP images, 10 MB each.")
    )


class CaseNoteForm(forms.Form):
    # As long as a description: a report added to a duplicate becomes a note on it.
    text = forms.CharField(
        label=_("Internal note"),
        max_length=MAX_DESCRIPTION_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    photos = MultipleImageField(label=_("Photos"))
    # A report added to a duplicate brings the photos kept for it.
    held_photos = HeldPhotosField()

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["held_photos"].held_by = user


class ReportForDutyForm(forms.Form):
    """A summoned department's report for duty (报到), on the case page and in the admin
    (which adds the version its page showed: cases/admin/buttons.py)."""

    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=MAX_TEXT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ExtensionDecisionForm(forms.Form):
    """A supervisor's decision on an extension request, from the signed link of its email
    (cases/views/extensions.py) and on the case's admin page (which adds the version its
    page showed and the request: cases/admin/buttons.py)."""

    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[("approve", _("Approve")), ("refuse", _("Refuse"))],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=MAX_TEXT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
