"""`python manage.py create_api_key NAME` (SPEC §5): print a new Open311 API key once."""

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from cases.models.api import DEFAULT_POSTS_PER_MINUTE, ApiKey
from cases.services.apikeys import api_key_create
from departments.management.base import TranslatedHelpCommand


class Command(TranslatedHelpCommand):
    help = gettext_lazy(
        "Create an Open311 API key and print it. Only its digest is stored: copy it now."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help=_("Who the key is for, e.g. '12345 hotline'."))
        parser.add_argument(
            "--rate-limit",
            metavar="N",
            type=int,
            default=None,
            help=_("Service requests this key may post per minute (default %(default)d).")
            % {"default": DEFAULT_POSTS_PER_MINUTE},
        )

    def handle(self, *args, name, rate_limit, **options):
        if rate_limit is not None and rate_limit < 1:
            raise CommandError(_("--rate-limit must be at least 1."))
        try:
            key, raw_key = api_key_create(name=name, rate_limit_per_minute=rate_limit)
        except ValueError as error:
            raise CommandError(str(error)) from error
        # The key alone on stdout, so scripts can capture it; the notes go to stderr.
        self.stdout.write(raw_key)
        self.stderr.write(
            _(
                "Created API key %(prefix)s… for “%(name)s” (%(limit)d requests per minute). "
                "It will not be shown again."
            )
            % {"prefix": key.prefix, "name": key.name, "limit": key.rate_limit_per_minute}
        )
        others = ApiKey.objects.active().filter(name=key.name).exclude(pk=key.pk).count()
        if others:
            # A new key for the same client is a rotation; the old one still works.
            self.stderr.write(
                ngettext(
                    "%(count)d other active key is named “%(name)s”: if this one replaces it, "
                    "revoke it in the admin (API keys).",
                    "%(count)d other active keys are named “%(name)s”: if this one replaces "
                    "them, revoke them in the admin (API keys).",
                    others,
                )
                % {"count": others, "name": key.name}
            )
