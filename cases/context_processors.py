"""What every page's menu offers this user, from the same rules the pages enforce
(cases/permissions.py), so that a link is shown exactly when its page would open."""

from cases.permissions import may_open_fallback_pool, may_report, may_see_dashboard


def menu(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "menu": {
            "report": may_report(user),
            "fallback_pool": may_open_fallback_pool(user),
            "dashboard": may_see_dashboard(user),
        }
    }
