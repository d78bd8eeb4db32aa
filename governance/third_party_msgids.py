"""Words of Django's admin and of django-axes that show on our Chinese admin pages but
that their own zh_Hans catalogues do not translate, or punctuate as Chinese is not written
(Django 5.2.x, django-axes 8.3).

Django looks a msgid up in the catalogues under LOCALE_PATHS before an app's own, so ours
(locale/zh_Hans/LC_MESSAGES/django.po) can translate another package's words. But
`make messages` runs makemessages with --no-obsolete, which keeps only the msgids it finds
in our sources: listed here with gettext_noop, they are found and kept. The site never
imports this module (a test does): makemessages only has to read it. Drop an entry once
the package's own catalogue translates it; add one when an upgrade brings English back.
"""

from django.utils.translation import gettext_noop, ngettext

DJANGO_ADMIN = [
    # The index's and each app page's table headers, for screen readers
    # (admin/app_list.html): new in Django 5.1, not yet in its zh_Hans catalogue.
    gettext_noop("Model name"),
    gettext_noop("Add link"),
    gettext_noop("Change or view list link"),
    # Before the page title when a form has errors (change form, list, password change).
    gettext_noop("Error:"),
    # The administrator's "add user" page (admin/auth/user/add_form.html).
    gettext_noop("After you’ve created a user, you’ll be able to edit more user options."),
    # Each list filter's heading (admin/filter.html), spaces and all: Django's zh_Hans
    # catalogue has "以 %(filter_title)s" ("以 期限"), which reads as no Chinese would write it.
    gettext_noop(" By %(filter_title)s "),
    # A page's heading and title: Django's zh_Hans catalogue puts a space between two
    # Chinese words ("查看 案件", "案件 管理"), which Chinese does not write.
    gettext_noop("View %s"),
    gettext_noop("Change %s"),
    gettext_noop("Add %s"),
    gettext_noop("%(app)s administration"),
]


def _plurals():
    """Never called: makemessages only reads the msgids. The list's count beside the
    search box, which Django's zh_Hans catalogue ends with a full stop before "(全部显示)"."""
    ngettext("%(counter)s result", "%(counter)s results", 0)


AXES = [
    # Its models (axes/models.py); the failure log's admin is not shown (governance/admin.py).
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
    gettext_noop("User Agent"),
    gettext_noop("IP Address"),
    gettext_noop("HTTP Accept"),
    gettext_noop("Path"),
    gettext_noop("Attempt Time"),
    gettext_noop("GET Data"),
    gettext_noop("POST Data"),
    gettext_noop("Failed Logins"),
    gettext_noop("Logout Time"),
    # Its admin (axes/admin.py): filter, fieldsets, action, columns.
    gettext_noop("Locked Out"),
    gettext_noop("Form Data"),
    gettext_noop("Meta Data"),
    gettext_noop("Clean up expired attempts"),
    gettext_noop("Not set"),
    # After a number: "3 Attempt Remaining".
    gettext_noop("Attempt Remaining"),
]
