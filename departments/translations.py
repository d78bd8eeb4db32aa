"""The project's translation catalogues are kept in git as .po files only; each process
builds the .mo it reads from them where it is missing or older (`compile_stale`), in
Python (polib), so that a machine without GNU gettext still speaks Chinese. It runs when
the apps load (departments/apps.py), whatever starts Django (runserver, gunicorn, Celery,
a test run), and as `manage.py compile_translations`."""

import os
import tempfile
from pathlib import Path

import polib
from django.conf import settings


def compile_stale() -> list[Path]:
    """Compile each catalogue under LOCALE_PATHS whose .mo is missing or older than its
    .po; the .mo files written. Up to date, this is one stat of each file."""
    compiled = []
    for po_path in sorted(
        path for root in settings.LOCALE_PATHS for path in Path(root).glob("*/LC_MESSAGES/*.po")
    ):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        compile_catalogue(po_path, mo_path)
        compiled.append(mo_path)
    return compiled


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
