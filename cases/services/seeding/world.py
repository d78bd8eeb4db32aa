"""What synthetic cases are made from (`seed_cases`): the grid's cells, the categories and
who usually leads each, the departments and the people of each role, read from the
database in a handful of queries before any case is drafted."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from departments.models import Category, Department, GridCell, Responsibility, Township, User


@dataclass
class World:
    """What the generator picks from, loaded in a handful of queries."""

    cells: list[tuple[int, int, float, float, float, float]]  # id, township, bbox
    categories: list[Category]
    category_by_id: dict[int, Category]
    departments: list[int]
    usual_lead: dict[int, int]  # category id -> a department that usually leads it
    caseworkers: dict[int, list[int]]  # township id -> user ids
    dispatchers: dict[int, list[int]]
    supervisors: dict[int | None, list[int]]
    liaisons: dict[int, list[int]]  # department id -> user ids
    supervisor_emails: dict[int, str]  # department id -> its supervisor_emails
    cell_names: dict[int, str]
    township_names: dict[int, str]


def load_world() -> World:
    cells = list(
        GridCell.objects.values_list(
            "id", "township_id", "min_lng", "min_lat", "max_lng", "max_lat"
        )
    )
    categories = list(Category.objects.all())
    departments = list(Department.objects.values_list("id", flat=True))
    if not cells or not categories or not departments:
        raise ValueError("Load the grid, departments and categories first (seed_demo does).")
    by_id = {c.pk: c for c in categories}
    parents = {c.parent_id for c in categories}
    leads = defaultdict(list)
    for category_id, department_id in Responsibility.objects.filter(role="lead").values_list(
        "category_id", "department_id"
    ):
        leads[category_id].append(department_id)

    # Who a dispatcher would pick for a case no rule settles: the lead of the nearest
    # ancestor with a rule, else the commonest lead in the same branch, else overall.
    def root_of(category):
        while category.parent_id in by_id:
            category = by_id[category.parent_id]
        return category.pk

    branch_leads = defaultdict(Counter)
    for category_id, department_ids in leads.items():
        if category_id in by_id:
            branch_leads[root_of(by_id[category_id])].update(department_ids)
    overall = Counter(d for department_ids in leads.values() for d in department_ids)
    anyone = overall.most_common(1)[0][0] if overall else departments[0]
    usual = {}
    for category in categories:
        current = category
        while current is not None and current.pk not in leads:
            current = by_id.get(current.parent_id)
        if current is not None:
            usual[category.pk] = leads[current.pk][0]
        elif branch_leads[root_of(category)]:
            usual[category.pk] = branch_leads[root_of(category)].most_common(1)[0][0]
        else:
            usual[category.pk] = anyone
    people: dict[str, dict] = {role: defaultdict(list) for role in User.Role.values}
    for user_id, role, township_id, department_id in User.objects.filter(
        is_active=True
    ).values_list("id", "role", "township_id", "department_id"):
        if role == User.Role.LIAISON:
            people[role][department_id].append(user_id)
        elif role in people:
            people[role][township_id].append(user_id)
    return World(
        cells=cells,
        # Reports name the most precise category, so pick leaves.
        categories=[c for c in categories if c.pk not in parents] or categories,
        category_by_id=by_id,
        departments=departments,
        usual_lead=usual,
        caseworkers=people[User.Role.CASEWORKER],
        dispatchers=people[User.Role.DISPATCHER],
        supervisors=people[User.Role.SUPERVISOR],
        liaisons=people[User.Role.LIAISON],
        supervisor_emails=dict(Department.objects.values_list("id", "supervisor_emails")),
        cell_names=dict(GridCell.objects.values_list("id", "name")),
        township_names=dict(Township.objects.values_list("id", "name")),
    )
