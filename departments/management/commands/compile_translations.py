"""`python manage.py compile_translations`: build the .mo of each catalogue under
LOCALE_PATHS from its .po, in Python (polib), so that a machine without GNU gettext (a
fresh demo, a deployment) still speaks Chinese. The .mo is not in git."""

import os
import tempfile
from pathlib import Path

import polib
from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Compile the project's translation catalogues (.po to .mo) that are missing or older."

    def handle(self, *args, verbosity: int = 1, **options):
        for po_path in sorted(
            path for root in settings.LOCALE_PATHS for path in Path(root).glob("*/LC_MESSAGES/*.po")
        ):
            mo_path = po_path.with_suffix(".mo")
            if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
                continue
            compile_catalogue(po_path, mo_path)
            if verbosity:
                self.stdout.write(f"compiled {mo_path}")


def compile_catalogue(po_path: Path, mo_path: Path) -> None:
    """Written aside, then renamed: the web and worker processes may compile at the same
    moment, and neither may read half a file. Fuzzy entries are left out, as msgfmt does."""
    handle, temporary = tempfile.mkstemp(dir=mo_path.parent, suffix=".mo.tmp")
    os.close(handle)
    try:
        polib.pofile(str(po_path)).save_as_mofile(temporary)
        os.chmod(temporary, 0o644)
        os.replace(temporary, mo_path)
    finally:
        Path(temporary).unlink(missing_ok=True)
