"""`python manage.py compile_translations`: build the .mo of each catalogue under
LOCALE_PATHS from its .po (departments/translations.py). Every process does it as it
starts; the command does it ahead, and says what it wrote."""

from django.core.management.base import BaseCommand

from departments.translations import compile_stale


class Command(BaseCommand):
    help = "Compile the project's translation catalogues (.po to .mo) that are missing or older."

    def handle(self, *args, verbosity: int = 1, **options):
        for mo_path in compile_stale():
            if verbosity:
                self.stdout.write(f"compiled {mo_path}")
