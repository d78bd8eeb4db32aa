"""`manage.py compile_translations` builds the Chinese catalogue without GNU gettext."""

import gettext
import os
import shutil
from pathlib import Path

from django.core.management import call_command

PO = Path(__file__).resolve().parent.parent / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def test_builds_a_catalogue_gettext_reads_and_leaves_an_up_to_date_one_alone(tmp_path, settings):
    messages = tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES"
    messages.mkdir(parents=True)
    po = messages / "django.po"
    shutil.copy(PO, po)
    po.write_text(
        po.read_text(encoding="utf-8")
        + '\n#, fuzzy\nmsgid "A guess nobody checked"\nmsgstr "未经核对的猜测"\n',
        encoding="utf-8",
    )
    settings.LOCALE_PATHS = [tmp_path / "locale"]

    call_command("compile_translations", verbosity=0)

    mo = messages / "django.mo"
    with mo.open("rb") as handle:
        catalogue = gettext.GNUTranslations(handle)
    assert (
        catalogue.gettext("jurisdiction_id %(id)s was not found.")
        == "找不到 jurisdiction_id %(id)s。"
    )
    assert catalogue.gettext("A guess nobody checked") == "A guess nobody checked"
    assert oct(mo.stat().st_mode & 0o777) == "0o644"
    assert {path.name for path in messages.iterdir()} == {"django.po", "django.mo"}

    os.utime(mo, (1, 1))
    os.utime(po, (0, 0))
    call_command("compile_translations", verbosity=0)
    assert mo.stat().st_mtime == 1
