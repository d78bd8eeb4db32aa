"""`manage.py compile_translations` builds the Chinese catalogue without GNU gettext."""

import gettext
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from django.apps import apps
from django.core.management import call_command

from departments import translations

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


def catalogue_only(tmp_path) -> Path:
    """A locale directory holding the committed .po and no .mo, as a fresh clone has."""
    messages = tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES"
    messages.mkdir(parents=True)
    shutil.copy(PO, messages / "django.po")
    return messages


def test_django_compiles_a_missing_catalogue_as_it_starts(tmp_path):
    """A server started without `make run` or the Procfile (runserver, a bare gunicorn, a
    test run) speaks Chinese too: loading the apps builds the .mo first."""
    messages = catalogue_only(tmp_path)
    (tmp_path / "fresh_clone_settings.py").write_text(
        "from governance.settings import *  # noqa: F403\n"
        f"LOCALE_PATHS = [{str(tmp_path / 'locale')!r}]\n",
        encoding="utf-8",
    )
    code = (
        "import django; django.setup()\n"
        "from django.utils import translation\n"
        "translation.activate('zh-hans')\n"
        "print(translation.gettext('jurisdiction_id %(id)s was not found.'))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fresh_clone_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(PO.parents[3])]),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "找不到 jurisdiction_id %(id)s。"
    assert (messages / "django.mo").exists()


def test_a_catalogue_that_cannot_be_written_is_a_warning_not_a_failed_start(
    tmp_path, settings, monkeypatch, caplog
):
    catalogue_only(tmp_path)
    settings.LOCALE_PATHS = [tmp_path / "locale"]

    def read_only(po_path, mo_path):
        raise PermissionError(13, "Permission denied", str(mo_path))

    monkeypatch.setattr(translations, "compile_catalogue", read_only)
    # At WARNING whatever an earlier test left on the root logger (Celery's test worker
    # sets it to ERROR).
    with caplog.at_level(logging.WARNING, logger="departments.apps"):
        apps.get_app_config("departments").ready()
    assert "The translations could not be compiled" in caplog.text
    assert "fall back to English" in caplog.text
