"""The admin speaks Chinese to a Chinese browser down to the words Django's admin and
django-axes bring, which their own zh_Hans catalogues lack and ours carries
(governance/third_party_msgids.py)."""

import re

import pytest
from django.utils import translation

from governance import third_party_msgids
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}


def chinese_page(client, url):
    response = client.get(url, **CHINESE)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("who", ["admin", "liaison"])
def test_the_chinese_admin_index_has_no_english_from_django_or_axes(
    client,
    cast,
    who,
    compiled_catalogue,  # noqa: F811
):
    client.force_login(getattr(cast, who))
    page = chinese_page(client, "/admin/")
    assert "模型名称" in page and "修改或查看列表链接" in page
    for english in ["Model name", "Add link", "Change or view list link", "Axes", "Access"]:
        assert english not in page, english


def test_administrators_see_sign_in_lockout_in_chinese(
    client,
    cast,
    compiled_catalogue,  # noqa: F811
):
    client.force_login(cast.admin)
    assert "登录锁定" in chinese_page(client, "/admin/")
    attempts = chinese_page(client, "/admin/axes/accessattempt/")
    assert "登录尝试" in attempts and "已锁定" in attempts and "登录时间" in attempts
    for english in ["Axes", "access attempt", "Locked Out", "Attempt Time", "Path"]:
        assert english not in attempts, english
    logs = chinese_page(client, "/admin/axes/accesslog/")
    assert "登录记录" in logs and "注销时间" in logs
    assert "Logout Time" not in logs and "access log" not in logs


def test_the_always_empty_failure_log_is_left_out_of_the_admin(client, cast):
    # AXES_ENABLE_ACCESS_FAILURE_LOG is off: axes writes nothing there.
    client.force_login(cast.admin)
    assert client.get("/admin/axes/accessfailurelog/").status_code == 404
    assert "accessfailurelog" not in client.get("/admin/").content.decode()


def test_adding_a_user_says_what_comes_next_in_chinese(
    client,
    cast,
    compiled_catalogue,  # noqa: F811
):
    client.force_login(cast.admin)
    page = chinese_page(client, "/admin/departments/user/add/")
    assert "创建用户后，即可编辑更多用户选项。" in page


def test_a_form_with_errors_says_so_in_the_page_title_in_chinese(
    client,
    cast,
    compiled_catalogue,  # noqa: F811
):
    client.force_login(cast.liaison)
    response = client.post(
        "/admin/password_change/",
        {"old_password": "wrong", "new_password1": "x", "new_password2": "y"},
        **CHINESE,
    )
    assert response.status_code == 200
    assert "<title>错误：" in response.content.decode()


def test_the_case_lists_filter_headings_read_as_chinese_writes_them(
    client,
    cast,
    compiled_catalogue,  # noqa: F811
):
    # Django's own catalogue has "以 期限": "by" word for word, and a space no Chinese writes.
    client.force_login(cast.liaison)
    page = chinese_page(client, "/admin/cases/case/")
    headings = [" ".join(h.split()) for h in re.findall(r"<summary>(.*?)</summary>", page, re.S)]
    assert "按期限" in headings and "按等待" in headings, headings
    assert "以 " not in page


def test_every_borrowed_msgid_has_a_chinese_translation(compiled_catalogue):  # noqa: F811
    borrowed = third_party_msgids.DJANGO_ADMIN + third_party_msgids.AXES
    with translation.override("zh-hans"):
        untranslated = [msgid for msgid in borrowed if translation.gettext(msgid) == msgid]
    assert untranslated == []


def test_the_admin_pages_a_liaison_reads_are_punctuated_as_chinese_writes(
    client,
    cast,
    report,
    compiled_catalogue,  # noqa: F811
):
    """Django's Chinese put spaces between Chinese words ("查看 案件", "案件 管理"), a space
    after "，" and an English full stop after the name ("欢迎， 城管局联络员 何."), and a
    full stop before "(全部显示)"."""
    case = report()
    client.force_login(cast.liaison)
    page = chinese_page(client, f"/admin/cases/case/{case.pk}/change/")
    assert "<h1>查看案件</h1>" in page
    assert f"欢迎，<strong>{cast.liaison.full_name}</strong>" in page
    assert "欢迎， " not in page and "</strong>." not in page
    assert "<title>案件管理 |" in chinese_page(client, "/admin/cases/")
    listing = chinese_page(client, "/admin/cases/case/?q=垃圾")
    assert "1 条结果 (" in listing and "条结果。" not in listing
