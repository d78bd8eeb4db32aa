"""`python manage.py compile_translations`: build the .mo of each catalogue under
LOCALE_PATHS from its .po (departments/translations.py). Every Django process already does
this as it starts, this command's own included, so it mostly finds nothing left to do. It
stays the explicit step of `make` and the Procfile: where start-up could only warn (a
locale directory it may not write), the command tries again and fails loudly."""

from django.core.management.base import BaseCommand

from departments.translations import compile_stale


class Command(BaseCommand):
    help = "Compile the project's translation catalogues (.po to .mo) that are missing or older."

    def handle(self, *args, verbosity: int = 1, **options):
        for mo_path in compile_stale():
            if verbosity:
                self.stdout.write(f"compiled {mo_path}")
