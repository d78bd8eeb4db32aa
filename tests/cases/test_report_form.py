"""The report form of /cases/new/: the reporter's phone is checked, and a refused form comes
back with everything that was typed; the category search says when nothing matches."""

import html
import re

import pytest

from cases.models import Case
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)
from tests.cases.test_photos import image_file


def report_data(world, **extra):
    data = {
        "category": world.rubbish.pk,
        "cell": world.n2.pk,
        "address": "东门路 12 号",
        "description": "路边堆放垃圾三天无人清理",
        "urgency": "urgent",
        "reporter_name": "王女士",
        "reporter_phone": "138 0013 8000",
    }
    data.update(extra)
    return data


@pytest.mark.parametrize("phone", ["call me", "138abc8000", "13800138000x", "1234", "+86+138"])
def test_a_phone_with_letters_or_too_few_digits_is_refused(client, cast, world, phone):
    client.force_login(cast.caseworker)
    response = client.post("/cases/new/", report_data(world, reporter_phone=phone))
    assert response.status_code == 200
    assert not Case.objects.exists()
    assert "reporter_phone" in response.context["form"].errors
    assert "Enter a phone number: 5 to 20 digits" in response.content.decode()


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("13800138000", "13800138000"),
        ("+86 138-0013-8000", "+86 138-0013-8000"),
        ("(010) 6552 9988", "(010) 6552 9988"),
        ("１３８００１３８０００", "13800138000"),  # typed with a Chinese input method
        ("", ""),
    ],
)
def test_a_phone_as_people_write_it_is_taken(client, cast, world, typed, kept):
    client.force_login(cast.caseworker)
    response = client.post("/cases/new/", report_data(world, reporter_phone=typed))
    assert response.status_code == 302
    assert Case.objects.get().reporter_phone == kept


def test_a_refused_phone_keeps_everything_else_that_was_typed(client, cast, world):
    client.force_login(cast.caseworker)
    data = report_data(world, reporter_phone="王女士家", photos=[image_file("a.jpg")])
    text = html.unescape(client.post("/cases/new/", data).content.decode())
    assert not Case.objects.exists()
    assert f'<option value="{world.rubbish.pk}" selected>' in text
    assert f'<option value="{world.n2.pk}" selected>' in text
    assert 'value="东门路 12 号"' in text and 'value="王女士"' in text
    assert re.search(r">\s*路边堆放垃圾三天无人清理</textarea>", text)
    assert '<option value="urgent" selected>' in text
    # What was typed stays, to be corrected rather than typed again.
    assert re.search(r'<input type="tel" name="reporter_phone" value="王女士家"', text)
    # The photo is kept for the report (a browser cannot be handed a file back).
    assert len(re.findall(r'name="held_photos" value="[0-9a-f-]{36}"', text)) == 1


def test_the_phone_error_speaks_chinese(client, cast, world, compiled_catalogue):  # noqa: F811
    client.force_login(cast.caseworker)
    response = client.post(
        "/cases/new/",
        report_data(world, reporter_phone="call me"),
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert "请输入电话号码：5 至 20 位数字" in response.content.decode()


# -- the category search -------------------------------------------------------------------

HINT = re.compile(r'<small class="help no-match" id="category-no-match"[^>]*data-message="([^"]*)"')


def test_the_category_search_carries_a_hint_for_when_nothing_matches(client, cast):
    client.force_login(cast.caseworker)
    text = client.get("/cases/new/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    hint = html.unescape(HINT.search(text).group(1))
    assert hint == (
        "No category matches. Choose “Not sure (the township decides)”, or search with other words."
    )


def test_the_category_search_hint_speaks_chinese(client, cast, compiled_catalogue):  # noqa: F811
    client.force_login(cast.caseworker)
    text = client.get("/cases/new/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    hint = html.unescape(HINT.search(text).group(1))
    assert hint == "没有匹配的类别。请选择“不确定（由街道决定）”，或换个词搜索。"


# -- what an empty choice says -------------------------------------------------------------


def first_option(page: str, select_name: str) -> str:
    select = page[page.index(f'<select name="{select_name}"') :]
    return html.unescape(re.search(r'<option value=""[^>]*>([^<]*)</option>', select).group(1))


def test_the_empty_cell_choice_does_not_read_as_a_place_already_taken(
    client,
    cast,
    compiled_catalogue,  # noqa: F811
):
    client.force_login(cast.caseworker)
    english = client.get("/cases/new/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    chinese = client.get("/cases/new/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert first_option(english, "cell") == (
        "No cell chosen: the point picked on the map places the case"
    )
    assert first_option(chinese, "cell") == "未选网格：按地图上点选的位置定位"


def test_a_dispatchers_correction_offers_no_category_as_the_pool_not_as_not_sure(
    client,
    cast,
    report,
    compiled_catalogue,  # noqa: F811
):
    from django.urls import reverse

    case = report(category=None)  # in the pool: the dispatcher may correct it
    client.force_login(cast.dispatcher)
    url = reverse("cases:detail", args=[case.number])
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    chinese = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    correction = english[english.index('class="correction"') :]
    assert first_option(correction, "category") == "Not classified (the case goes to the pool)"
    assert first_option(chinese[chinese.index('class="correction"') :], "category") == (
        "未分类（案件进入兜底池）"
    )
