"""The world cases move through: places, departments, categories, the responsibility
list, people and the working-time calendar, one module per subject; import them from
`departments.models`. Nothing here knows about cases."""

from departments.models.holidays import (
    MOVED_CASES_NAMED,
    CalendarChange,
    CalendarLibraryYear,
    Holiday,
    HolidayQuerySet,
)
from departments.models.places import GridCell, Township
from departments.models.responsibility import (
    OWN_PARENT_MESSAGE,
    Category,
    Department,
    Responsibility,
    RoutingStamp,
)
from departments.models.users import (
    ROLES_NEEDING_A_TOWNSHIP,
    User,
    UserManager,
    UserQuerySet,
    admin_rights_lost,
    default_language,
    role_errors,
    user_language,
)

__all__ = [
    "MOVED_CASES_NAMED",
    "OWN_PARENT_MESSAGE",
    "ROLES_NEEDING_A_TOWNSHIP",
    "CalendarChange",
    "CalendarLibraryYear",
    "Category",
    "Department",
    "GridCell",
    "Holiday",
    "HolidayQuerySet",
    "Responsibility",
    "RoutingStamp",
    "Township",
    "User",
    "UserManager",
    "UserQuerySet",
    "admin_rights_lost",
    "default_language",
    "role_errors",
    "user_language",
]
