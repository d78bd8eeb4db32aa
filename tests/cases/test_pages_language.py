"""What a Chinese page writes differently from an English one, beyond its words: lists of
names joined with 、, dates and times in the language's own format, and select boxes that
say what their empty choice means."""

import re

from django.urls import reverse
from django.utils import translation

from cases.labels import join_names
from cases.services import workflow
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)

CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en"}


def page(client, url, language) -> str:
    return client.get(url, **language).content.decode()


# -- lists of names ------------------------------------------------------------------------


def test_names_are_joined_with_the_enumeration_comma_in_chinese_only():
    with translation.override("zh-hans"):
        assert join_names(["城管局", "市场监管局", "住建局"]) == "城管局、市场监管局、住建局"
    with translation.override("en"):
        assert join_names(["城管局", "市场监管局"]) == "城管局, 市场监管局"
    assert join_names([]) == ""


def test_the_candidate_departments_are_joined_with_the_enumeration_comma_in_chinese(
    client, cast, world, report
):
    case = report(category=world.stall, cell=world.n2)  # overlap: CG and SJ both lead
    client.force_login(cast.dispatcher)
    candidates = re.compile(
        r'<span class="candidate">[^<]+</span>(、|, )<span class="candidate">[^<]+</span>'
    )
    for url in ("/cases/fallback/", reverse("cases:detail", args=[case.number])):
        assert candidates.search(page(client, url, CHINESE)).group(1) == "、", url
        assert candidates.search(page(client, url, ENGLISH)).group(1) == ", ", url


def test_the_timeline_joins_assisting_and_candidate_departments_with_the_enumeration_comma(
    client, cast, world, report
):
    case = report(category=world.stall, cell=world.n2)
    workflow.case_dispatch(
        case=case, actor=cast.dispatcher, lead=world.urban, assisting=[world.market, world.housing]
    )
    client.force_login(cast.caseworker)
    url = reverse("cases:detail", args=[case.number])
    chinese, english = page(client, url, CHINESE), page(client, url, ENGLISH)
    assert "城管局、市场监管局" in chinese and "市场监管局、住建局" in chinese
    assert "城管局, 市场监管局" not in chinese and "市场监管局, 住建局" not in chinese
    assert "candidates: 城管局, 市场监管局" in english
    assert "assisting: 市场监管局, 住建局" in english
