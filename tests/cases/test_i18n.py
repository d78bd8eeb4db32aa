"""The UI speaks English and Simplified Chinese (SPEC §6): a complete zh-hans catalogue,
chosen by the browser or the switch, with times in the configured time zone."""

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polib
import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

ROOT = Path(django_settings.BASE_DIR)
PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
# Everything of ours that can hold a translatable string; not the venv, data or caches.
NOT_SOURCES = shutil.ignore_patterns(
    ".*",
    "__pycache__",
    "*.egg-info",
    "*.mo",
    "var",
    "bench",
    "control",
    "node_modules",
    "test-artifacts",
    "static",
    "tests",
)


@pytest.fixture(scope="session")
def compiled_catalogue():
    """Build django.mo from the committed django.po when it is missing or older (the .mo
    is not in git); xdist workers doing it at once each write it aside and rename it."""
    call_command("compile_translations", verbosity=0)
    translation.trans_real._translations.clear()  # forget catalogues loaded before
    translation.trans_real._default = None
    return MO


def test_makemessages_finds_no_untranslated_string(tmp_path, settings, monkeypatch):
    # Extract into a copy, so the committed catalogue is not rewritten by the test.
    shutil.copytree(ROOT, tmp_path, ignore=NOT_SOURCES, dirs_exist_ok=True)
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    monkeypatch.chdir(tmp_path)
    call_command("makemessages", locale=["zh_Hans"], verbosity=0, no_obsolete=True)
    catalogue = polib.pofile(str(tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))
    untranslated = [entry.msgid for entry in catalogue.untranslated_entries()]
    fuzzy = [entry.msgid for entry in catalogue.fuzzy_entries()]
    assert len(catalogue) > 300
    assert untranslated == [], f"untranslated: {untranslated[:20]}"
    assert fuzzy == [], f"fuzzy: {fuzzy[:20]}"


def test_pages_speak_chinese_when_the_browser_asks_for_it(client, cast, compiled_catalogue):
    client.force_login(cast.caseworker)
    response = client.get("/cases/new/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    text = response.content.decode()
    assert '<html lang="zh-hans">' in text
    assert "上报案件" in text and "不确定（由街道决定）" in text
    # Labels end in a full-width colon, as Chinese writes it, not Django's ASCII one.
    assert re.search(r"<label[^>]*>描述：</label>", text), re.findall(r"<label[^>]*>[^<]*", text)


def test_the_category_picker_offers_english_names_on_english_pages_only(
    client, cast, world, compiled_catalogue
):
    world.rubbish.name_en = "Exposed rubbish"
    world.rubbish.save()
    client.force_login(cast.caseworker)
    chinese = client.get("/cases/new/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    english = client.get("/cases/new/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "暴露垃圾 (ENV-RUBBISH)" in chinese and "Exposed rubbish" not in chinese
    assert "暴露垃圾 / Exposed rubbish (ENV-RUBBISH)" in english


def test_cases_read_in_english_name_their_category_in_english_where_it_has_a_name(
    client, cast, world, report, compiled_catalogue
):
    """The list, the case page and the admin agree with the picker and the emails: an
    English reader reads the English name, a Chinese reader the official one."""
    world.rubbish.name_en = "Exposed rubbish"
    world.rubbish.save()
    case = report()  # rubbish
    client.force_login(cast.dispatcher)
    pages = ("/cases/", reverse("cases:detail", args=[case.number]))
    for url in pages:
        english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        chinese = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
        assert "Exposed rubbish" in english and "暴露垃圾" not in english, url
        assert "暴露垃圾" in chinese and "Exposed rubbish" not in chinese, url


def test_pages_speak_english_by_default(client, cast, compiled_catalogue):
    client.force_login(cast.caseworker)
    text = client.get("/cases/new/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Report a case" in text and "上报案件" not in text


def test_the_language_switch_changes_the_language(client, cast, compiled_catalogue):
    client.force_login(cast.caseworker)
    response = client.post(
        reverse("set_language"),
        {"language": "zh-hans", "next": "/cases/"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 302
    text = client.get("/cases/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "案件" in text and "筛选" in text


def test_routing_explanation_and_messages_are_translated(client, cast, world, compiled_catalogue):
    client.force_login(cast.caseworker)
    response = client.post(
        "/cases/new/",
        {
            "category": world.stall.pk,
            "cell": world.n2.pk,
            "description": "占道",
            "urgency": "normal",
        },
        follow=True,
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    text = response.content.decode()
    assert "案件去向及原因" in text
    assert "多个部门都有职责" in text  # the fallback reason "overlap"
    assert "已上报" in text


def test_times_are_shown_in_the_configured_time_zone(client, cast, report, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    with time_machine.travel(datetime(2026, 3, 2, 1, 30, tzinfo=UTC), tick=False):
        case = report()
    client.force_login(cast.caseworker)
    text = client.get(
        reverse("cases:detail", args=[case.number]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "2026-03-02T09:30:00+08:00" in text  # the <time datetime> of the timeline


def test_the_system_is_named_in_the_readers_language(
    client, cast, world, report, compiled_catalogue
):
    case = report(category=world.stall, cell=world.n2)  # routed by the system
    client.force_login(cast.caseworker)

    page = client.get(reverse("cases:detail", args=[case.number]), HTTP_ACCEPT_LANGUAGE="zh-hans")

    actors = re.findall(r'<span class="actor">([^<]*)</span>', page.content.decode())
    assert "系统" in actors and "system" not in actors
