"""What a Chinese page writes differently from an English one, beyond its words: lists of
names joined with 、, clauses with ；, phrases with ，, labels with ：, dates and times in
the language's own format, and select boxes that say what their empty choice means."""

import json
import re
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import time_machine
from django import forms
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import translation

from cases.forms import errors_in_one_line
from cases.models import OutboxMessage
from cases.services import extensions, workflow
from departments.services import sync_role_group
from departments.wording import join_clauses, join_names, join_phrases, labelled
from tests.cases.test_ack_links import escalation, link  # noqa: F401 (a fixture)
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)
from tests.conftest import correct_as_shown

CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en"}
SHANGHAI = ZoneInfo("Asia/Shanghai")
# A time whose ISO form ("2026-03-02 09:30", "2026-03-02T09:30") a page must not show.
DISPATCHED_AT = datetime(2026, 3, 2, 9, 30, tzinfo=SHANGHAI)
ISO = re.compile(r"2026-03-02[ T]09:30")


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


# -- dates and times -----------------------------------------------------------------------


def without_machine_formats(text: str) -> str:
    """The page as a person reads it: not the <time datetime> attributes, nor the data
    embedded for scripts."""
    text = re.sub(r'datetime="[^"]*"', "", text)
    return re.sub(r"<script.*?</script>", "", text, flags=re.S)


def test_the_case_page_says_when_it_was_dispatched_in_the_readers_format(
    client, cast, world, report
):
    with time_machine.travel(DISPATCHED_AT - timedelta(hours=1), tick=False):
        case = report(category=world.stall, cell=world.n2)
    with time_machine.travel(DISPATCHED_AT, tick=False):
        workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.urban)
    client.force_login(cast.caseworker)
    url = reverse("cases:detail", args=[case.number])
    chinese = without_machine_formats(page(client, url, CHINESE))
    english = without_machine_formats(page(client, url, ENGLISH))
    routing = re.search(r'id="routing">.*?</section>', chinese, flags=re.S).group(0)
    assert "2026年3月2日 09:30" in routing and not ISO.search(chinese)
    assert "on March 2, 2026, 09:30" in english and not ISO.search(english)
    # The machine format stays where machines read it.
    assert 'datetime="2026-03-02T09:30:00+08:00"' in page(client, url, CHINESE)


def test_the_acknowledge_page_shows_its_times_in_the_readers_format(client, escalation):  # noqa: F811
    chinese = page(client, link(escalation), CHINESE)
    assert "2026年11月23日 12:00" in chinese  # escalated at
    assert not re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", chinese)


def test_the_extension_link_page_shows_the_deadline_in_the_readers_format(client, cast, report):
    with time_machine.travel(DISPATCHED_AT, tick=False):
        case = workflow.case_accept(case=report(), actor=cast.liaison)
        extensions.extension_request(
            case=case, actor=cast.liaison, reason="需要协调物业", extra_days=Decimal(2)
        )
    message = OutboxMessage.objects.get(kind="extension", to="cg-boss@example.org")
    path = re.search(r"/extensions/decide/\S+/", message.text).group(0)
    with time_machine.travel(DISPATCHED_AT + timedelta(hours=1), tick=False):
        chinese = page(client, path, CHINESE)
    assert "需要协调物业" in chinese
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d", chinese)
    assert not re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", chinese)


def test_the_admin_case_page_shows_timeline_rows_and_extensions_in_the_readers_format(
    client, cast, report
):
    with time_machine.travel(DISPATCHED_AT, tick=False):
        case = workflow.case_accept(case=report(), actor=cast.liaison)
        extensions.extension_request(
            case=case, actor=cast.liaison, reason="需要协调物业", extra_days=Decimal(2)
        )
    client.force_login(cast.liaison)
    chinese = page(client, reverse("admin:cases_case_change", args=[case.pk]), CHINESE)
    assert "2026年3月2日 09:30" in chinese
    assert not ISO.search(chinese)


def test_the_dashboard_chart_labels_its_days_in_the_readers_format(client, cast, report):
    with time_machine.travel(DISPATCHED_AT, tick=False):
        report()
    client.force_login(cast.supervisor)
    query = {"date_from": "2026-03-01", "date_to": "2026-03-03"}
    with time_machine.travel(DISPATCHED_AT + timedelta(days=1), tick=False):
        chinese = client.get("/dashboard/", query, **CHINESE)
        english = client.get("/dashboard/", query, **ENGLISH)
    # Month and day under the axis; the tooltip names the full date.
    assert "3月2日" in chinese.context["chart"]["labels"]
    assert "3/2" in english.context["chart"]["labels"]
    assert "2026年3月2日" in chinese.context["chart"]["spans"]
    assert "03/02/2026" in english.context["chart"]["spans"]
    assert "2026-03-02" not in json.dumps(chinese.context["chart"])


# -- the empty choice of select boxes ------------------------------------------------------


def empty_options(text: str) -> list[str]:
    """What the empty choice of each select box on the page says."""
    return re.findall(r'<option value=""(?: selected)?>([^<]*)</option>', text)


def test_the_case_list_filters_say_their_empty_choice_keeps_every_case(client, cast):
    client.force_login(cast.dispatcher)
    english = page(client, "/cases/", ENGLISH)
    assert empty_options(english) == ["All categories", "All grid cells", "All departments"]
    assert "---------" not in page(client, "/cases/", CHINESE)


def test_the_case_list_filters_say_all_in_chinese(client, cast, compiled_catalogue):  # noqa: F811
    client.force_login(cast.dispatcher)
    assert empty_options(page(client, "/cases/", CHINESE)) == ["全部类别", "全部网格", "全部部门"]


def test_the_lead_department_pickers_ask_for_a_choice(client, cast, disputed, report, world):
    pooled = report(category=world.lamp)  # no rule: in the pool
    client.force_login(cast.dispatcher)
    for url in ("/cases/fallback/", reverse("cases:detail", args=[pooled.number])):
        assert "Choose the lead department…" in empty_options(page(client, url, ENGLISH)), url
        assert "---------" not in page(client, url, CHINESE), url
    sync_role_group(cast.supervisor)  # the admin's permissions of the role
    client.force_login(cast.supervisor)
    admin_page = page(client, reverse("admin:cases_case_change", args=[disputed.pk]), ENGLISH)
    assert 'id="act-arbitrate"' in admin_page
    assert "Choose the lead department…" in empty_options(admin_page)
    assert "---------" not in admin_page


def test_the_lead_department_pickers_ask_in_chinese(
    client,
    cast,
    report,
    world,
    compiled_catalogue,  # noqa: F811
):
    report(category=world.lamp)
    client.force_login(cast.dispatcher)
    assert "请选择牵头部门…" in empty_options(page(client, "/cases/fallback/", CHINESE))


def test_the_whistles_label_in_chinese_ends_with_one_colon(
    client,
    cast,
    report,
    world,
    compiled_catalogue,  # noqa: F811
):
    """It read "吹哨：协办部门须报到：", a colon inside the label and the label's own after it."""
    pooled = report(category=world.lamp)
    client.force_login(cast.dispatcher)
    for url in ("/cases/fallback/", reverse("cases:detail", args=[pooled.number])):
        labels = re.findall(
            r'<label for="[^"]*whistle">([^<]*)</label>', page(client, url, CHINESE)
        )
        assert labels == ["吹哨（协办部门须报到）："], url


def test_the_case_page_gives_the_time_left_in_working_time_alone(
    client,
    cast,
    report,
    compiled_catalogue,  # noqa: F811
):
    """It read "剩余 2 小时（剩余工作时间 2 小时）": Django's calendar time ("16 小时，6 分钟"
    overnight) beside ours, in two ways of writing durations."""
    # Monday 2026-03-02 10:00 in Shanghai; rubbish must be accepted within 2 working hours.
    with time_machine.travel(datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI), tick=False):
        case = report()
        client.force_login(cast.caseworker)
        url = reverse("cases:detail", args=[case.number])
        deadline = re.compile(r'<dd class="deadline">(.*?)</dd>', re.S)
        chinese = re.sub(r"<[^>]+>", "", deadline.search(page(client, url, CHINESE)).group(1))
        english = re.sub(r"<[^>]+>", "", deadline.search(page(client, url, ENGLISH)).group(1))
    assert chinese.endswith("（受理） · 剩余工作时间 2 小时"), chinese
    assert english.endswith("(accept) · 2 hours of working time left"), english


def test_the_correction_form_says_an_empty_cell_is_outside_the_grid(
    client,
    cast,
    report,
    world,
    compiled_catalogue,  # noqa: F811
):
    case = report(category=world.lamp)
    client.force_login(cast.dispatcher)
    url = reverse("cases:detail", args=[case.number])
    correction = re.search(r"transition-correct.*?</form>", page(client, url, CHINESE), re.S)
    assert empty_options(correction.group(0)) == ["未分类（案件进入兜底池）", "网格外"]


# -- clauses, phrases and labels -----------------------------------------------------------


def test_clauses_phrases_and_labels_take_full_width_marks_in_chinese_only():
    with translation.override("zh-hans"):
        assert join_clauses(["照片不是图片。", "原因必填。"]) == "照片不是图片；原因必填。"
        assert join_phrases(["未结 3", "已超期 2"]) == "未结 3，已超期 2"
        assert labelled("说明", "必填") == "说明：必填"
    with translation.override("en"):
        assert join_clauses(["Not an image.", "Required."]) == "Not an image; Required."
        assert join_phrases(["open 3", "overdue 2"]) == "open 3, overdue 2"
        assert labelled("Note", "required") == "Note: required"
    assert join_clauses([]) == ""


def test_a_quoted_comment_follows_a_chinese_full_stop_or_colon_with_no_space(
    client,
    cast,
    world,
    report,
    disputed,
    compiled_catalogue,  # noqa: F811
):
    """ "…从兜底池派遣。 “城管牵头”": the template wrote an English space after the sentence
    (and after "退回：") before the quoted comment, whatever the language."""
    dispatched = report(category=world.stall, cell=world.n2)  # overlap: to the pool
    workflow.case_dispatch(
        case=dispatched, actor=cast.dispatcher, lead=world.urban, comment="城管牵头"
    )
    workflow.case_dispatch(
        case=disputed, actor=cast.supervisor, lead=world.housing, comment="属地管理"
    )
    returned = report()
    workflow.case_return(case=returned, actor=cast.liaison, reason="不归城管")
    client.force_login(cast.dispatcher)
    dispatched_page, disputed_page, returned_page = (
        reverse("cases:detail", args=[case.number]) for case in (dispatched, disputed, returned)
    )

    assert "从兜底池派遣。“城管牵头”" in page(client, dispatched_page, CHINESE)
    assert "不能再退回。“属地管理”" in page(client, disputed_page, CHINESE)
    for url in (returned_page, "/cases/fallback/"):
        assert "退回：“不归城管”" in page(client, url, CHINESE), url
    # English keeps its space after the full stop and the colon.
    assert re.search(
        r"from the fallback pool by Dispatcher on [^<]+\. “城管牵头”",
        page(client, dispatched_page, ENGLISH),
    )
    assert "cannot return it. “属地管理”" in page(client, disputed_page, ENGLISH)
    for url in (returned_page, "/cases/fallback/"):
        assert re.search(r"Returned by 城管局 on [^<]+: “不归城管”", page(client, url, ENGLISH)), (
            url
        )


class TwoFieldsForm(forms.Form):
    note = forms.CharField(label="说明")
    reason = forms.CharField(label="原因")


def test_a_refused_forms_errors_line_uses_the_full_width_semicolon_in_chinese():
    with translation.override("zh-hans"):
        chinese = errors_in_one_line(TwoFieldsForm({}))
    with translation.override("en"):
        english = errors_in_one_line(TwoFieldsForm({}))
    assert chinese == "说明：这个字段是必填项；原因：这个字段是必填项。"
    assert english == "说明: This field is required; 原因: This field is required."


def test_the_admin_says_why_the_cases_were_not_accepted_in_chinese_punctuation(
    client,
    cast,
    report,
    compiled_catalogue,  # noqa: F811
):
    cases = [report(description=f"垃圾 {index}") for index in range(2)]
    for case in cases:
        workflow.case_accept(case=case, actor=cast.liaison)
    client.force_login(cast.liaison)
    response = client.post(
        reverse("admin:cases_case_changelist"),
        {"action": "accept_selected", ACTION_CHECKBOX_NAME: [case.pk for case in cases]},
        follow=True,
        **CHINESE,
    )
    (refused,) = [str(m) for m in get_messages(response.wsgi_request)]
    first, second = sorted(case.number for case in cases)
    # One message for the one reason, the cases named in Chinese brackets and list marks.
    assert refused.startswith(f"2 件案件未受理（{first}、{second}）：")
    assert ", " not in refused and "(" not in refused


def test_the_dashboard_map_tooltip_is_punctuated_in_the_readers_language(
    client,
    cast,
    report,
    compiled_catalogue,  # noqa: F811
):
    report()
    client.force_login(cast.supervisor)
    chinese = client.get("/dashboard/", **CHINESE).context["cells"]["features"]
    english = client.get("/dashboard/", **ENGLISH).context["cells"]["features"]
    tooltips = {f["properties"]["code"]: f["properties"]["tooltip"] for f in chinese}
    name = next(f["properties"]["name"] for f in chinese if f["properties"]["code"] == "N-01")
    assert tooltips["N-01"] == f"{name}：未结 1，已超期 0"
    assert f"{name}: open 1, overdue 0" in [f["properties"]["tooltip"] for f in english]


def test_the_pool_says_how_long_a_case_waits_in_months_not_as_a_month_name(
    client,
    cast,
    world,
    report,
    compiled_catalogue,  # noqa: F811
):
    """Django's Chinese "2 月" reads as February: "2 个月"; and "天", not "日", for days."""
    with time_machine.travel(datetime(2026, 9, 1, 10, tzinfo=ZoneInfo("Asia/Shanghai"))):
        report(category=world.stall)  # overlap: in the pool
    client.force_login(cast.dispatcher)
    with time_machine.travel(datetime(2026, 11, 14, 10, tzinfo=ZoneInfo("Asia/Shanghai"))):
        # Django keeps each number with its unit by a no-break space.
        page, english = (
            client.get("/cases/fallback/", **language).content.decode().replace("\xa0", " ")
            for language in (CHINESE, ENGLISH)
        )
    assert "已等待 2 个月，1 周" in page
    assert "waiting for 2 months, 1 week" in english


def test_what_the_system_writes_on_a_correction_reads_in_the_readers_language(
    client,
    cast,
    report,
    world,
    compiled_catalogue,  # noqa: F811
):
    """The dispatcher corrected in English; a Chinese reader's timeline read English."""

    case = report(category=None)  # in the pool
    with translation.override("en"):
        correct_as_shown(case, actor=cast.dispatcher, category=world.rubbish, cell=case.cell)
    client.force_login(cast.dispatcher)
    url = reverse("cases:detail", args=[case.number])
    chinese, english = page(client, url, CHINESE), page(client, url, ENGLISH)
    assert "更正后重新分拨。" in chinese and "Routed again after a correction." not in chinese
    assert "Routed again after a correction." in english


def test_the_pools_reason_and_candidates_follow_a_chinese_colon_with_no_space(
    client,
    cast,
    world,
    report,
    compiled_catalogue,  # noqa: F811
):
    """ "原因： 重叠", "候选部门： 城管局": an English space after the full-width colon, on the
    case page and the pool alike."""
    overlapping = report(category=world.stall, cell=world.n2)  # overlap: to the pool
    client.force_login(cast.dispatcher)
    for url in (reverse("cases:detail", args=[overlapping.number]), "/cases/fallback/"):
        chinese = page(client, url, CHINESE)
        assert re.search(r"原因：<strong", chinese), url
        assert re.search(r"候选部门：<span", chinese), url
        english = page(client, url, ENGLISH)
        assert re.search(r"Reason: <strong", english), url
        assert re.search(r"Candidate departments: <span", english), url
