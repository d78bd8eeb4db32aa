"""Password validators: Django's, with the wording its translations still carry."""

from django.contrib.auth import password_validation
from django.utils.translation import ngettext


class MinimumLengthValidator(password_validation.MinimumLengthValidator):
    """Django 5.2 reworded the too-short message (`%d` for `%(min_length)d`) and its
    Chinese catalogue has not followed, so a Chinese page said it in English. This is the
    wording the catalogues translate."""

    def get_error_message(self):
        return ngettext(
            "This password is too short. It must contain at least %(min_length)d character.",
            "This password is too short. It must contain at least %(min_length)d characters.",
            self.min_length,
        ) % {"min_length": self.min_length}
