"""Photos and internal notes added to a case."""

from django import forms
from django.utils.translation import gettext_lazy as _

from cases.forms.fields import HeldPhotosField, MultipleImageField
from departments.models import User


class PhotosForm(forms.Form):
    photos = MultipleImageField(
        label=_("Photos"), help_text=_("Up to 5 JPEG, PNG or WebP images, 10 MB each.")
    )


class CaseNoteForm(forms.Form):
    text = forms.CharField(label=_("Internal note"), widget=forms.Textarea(attrs={"rows": 3}))
    photos = MultipleImageField(label=_("Photos"))
    # A report added to a duplicate brings the photos kept for it.
    held_photos = HeldPhotosField()

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["held_photos"].held_by = user
