"""The data flywheel: dispatchers' decisions on ambiguous cases become responsibility rules.

From closed cases whose lead was chosen in the fallback pool (`Case.lead_chosen_in_pool`),
count per category and place (a cell, or a whole township) which department handled them. Where one
department handled most of them, suggest a lead rule, with the cases as evidence. An
administrator accepts a suggestion (the rule is created, its basis citing the cases) or
dismisses it (remembered, not offered again). The counting is done by the database.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from cases.models import RuleSuggestionDismissal
from cases.selectors.lead_hints import MIN_SHARE, dispatched_closed_cases
from cases.services.transitions import WorkflowError
from departments.models import Category, Department, GridCell, Responsibility, Township, User
from departments.routing import CELL_SCOPE, TOWNSHIP_SCOPE, get_index
from departments.wording import join_names

MIN_CASES = 3
EVIDENCE_LIMIT = 50


@dataclass
class RuleSuggestion:
    category: Category
    department: Department
    township: Township | None
    cell: GridCell | None
    count: int  # cases handled by the department
    total: int  # cases of the category in the place
    numbers: list[str] = field(default_factory=list)
    # Lead rules of other departments for the category and place, in force now or later:
    # beside the new rule they would make every such case an overlap, so accepting ends them.
    replaces: list[Responsibility] = field(default_factory=list)
    # The department's own lead rule for the category and place, in force, when the rules
    # in `replaces` make an overlap of it: accepting keeps it (the key of a new one) and
    # ends them.
    rule: Responsibility | None = None
    # The subcategories the new rule would take here from the department the list gives
    # them now, as (subcategory, that department): a rule for a category covers its
    # subcategories, and a cell's or a township's outranks theirs for a wider place.
    reroutes: list[tuple[Category, Department]] = field(default_factory=list)
    # The rules of `replaces` that start today or later: they cannot end as of yesterday,
    # so accepting is refused until they are changed by hand, as the page says first.
    starting: list[Responsibility] = field(default_factory=list)

    @property
    def ending(self) -> list[Responsibility]:
        """The rules of `replaces` that accepting ends as of yesterday."""
        return [rule for rule in self.replaces if rule not in self.starting]

    @property
    def refusals(self) -> list[str]:
        return [
            _(
                "The rule of %(department)s for this category and place starts on "
                "%(date)s: change it in the responsibility list first."
            )
            % {"department": rule.department.name, "date": date_format(rule.valid_from)}
            for rule in self.starting
        ]

    @property
    def share(self) -> float:
        return self.count / self.total if self.total else 0.0

    @property
    def scope(self):
        return self.cell or self.township

    @property
    def key(self) -> str:
        scope = f"c{self.cell.pk}" if self.cell else f"t{self.township.pk}"
        return f"{self.category.pk}-{self.department.pk}-{scope}"


def _ranked(*partition: str) -> Window:
    return Window(
        RowNumber(),
        partition_by=[F(name) for name in partition],
        order_by=[F("created_at").asc(), F("pk").asc()],
    )


def _dispatch_record(cases) -> tuple[dict, dict]:
    """What the dispatchers chose, from one scan of the dispatched cases, for the counts and
    the evidence both.

    Returns the counts, {(category, cell, township, department): cases}, and the evidence,
    {(level, category, place, department): the first EVIDENCE_LIMIT case numbers}. The
    query returns at most EVIDENCE_LIMIT rows of each group, however many cases there are.
    """
    # The township too: a cell moved to another township by a grid import keeps its older
    # cases' township, which the township level counts.
    by_cell = ("category_id", "cell_id", "township_id", "lead_department_id")
    rows = (
        cases.annotate(
            cell_rank=_ranked(*by_cell),
            township_rank=_ranked("category_id", "township_id", "lead_department_id"),
            cell_count=Window(Count("pk"), partition_by=[F(name) for name in by_cell]),
        )
        .filter(Q(cell_rank__lte=EVIDENCE_LIMIT) | Q(township_rank__lte=EVIDENCE_LIMIT))
        .order_by("created_at", "pk")
        .values_list(
            "number",
            "category_id",
            "cell_id",
            "township_id",
            "lead_department_id",
            "cell_rank",
            "township_rank",
            "cell_count",
        )
    )
    counts, evidence = {}, defaultdict(list)
    for number, category, cell, township, department, cell_rank, township_rank, n in rows:
        if cell_rank == 1:
            counts[category, cell, township, department] = n
        for key, rank in (
            (("cell", category, cell, department), cell_rank),
            (("township", category, township, department), township_rank),
        ):
            if rank <= EVIDENCE_LIMIT and len(evidence[key]) < EVIDENCE_LIMIT:
                evidence[key].append(number)
    return counts, evidence


# Where each level's place sits in a key of the counts.
_PLACE_OF_LEVEL = {"cell": 1, "township": 2}


def _level(counts: dict, level: str, *, min_cases: int, min_share: float):
    """(category, place, department, n, m) rows where the department handled at least
    `min_cases` and `min_share` of the category's cases in the level's place."""
    handled, totals = Counter(), Counter()
    for key, n in counts.items():
        category_id, place_id, department_id = key[0], key[_PLACE_OF_LEVEL[level]], key[3]
        handled[category_id, place_id, department_id] += n
        totals[category_id, place_id] += n
    for (category_id, place_id, department_id), n in handled.items():
        total = totals[category_id, place_id]
        if n >= min_cases and n / total >= min_share:
            yield category_id, place_id, department_id, n, total


def rule_suggestions(
    *, min_cases: int = MIN_CASES, min_share: float = MIN_SHARE
) -> list[RuleSuggestion]:
    """The current suggestions, most evidence first: none that an administrator dismissed,
    none that a lead rule with the same category, department and scope already is (but one
    that other departments' lead rules beside it make an overlap of: accepting ends
    those), and none the list already routes as it says (a township's rule after it was
    accepted made the same rule for each of its cells look new)."""
    # A case outside every cell routes to the pool whatever the list says: its dispatch is
    # no evidence for a township's rule, which would route the township's other cases.
    cases = dispatched_closed_cases().filter(cell__isnull=False)
    counts, evidence = _dispatch_record(cases)
    found = [
        (level, *row)
        for level in _PLACE_OF_LEVEL
        for row in _level(counts, level, min_cases=min_cases, min_share=min_share)
    ]
    if not found:
        return []
    existing = set(
        Responsibility.objects.filter(role=Responsibility.Role.LEAD).values_list(
            "category_id", "department_id", "township_id", "cell_id"
        )
    )
    dismissed = set(
        RuleSuggestionDismissal.objects.values_list(
            "category_id", "department_id", "township_id", "cell_id"
        )
    )
    categories = Category.objects.in_bulk({row[1] for row in found})
    departments = Department.objects.in_bulk({row[3] for row in found})
    cells = GridCell.objects.select_related("township").in_bulk(
        {row[2] for row in found if row[0] == "cell"}
    )
    townships = Township.objects.in_bulk({row[2] for row in found if row[0] == "township"})
    index, today = get_index(), timezone.localdate()
    cells_of_township = defaultdict(list)
    for cell, township in index.township_of_cell.items():
        cells_of_township[township].append(cell)
    suggestions, ruled = [], set()
    for level, category_id, place_id, department_id, count, total in found:
        cell_id = place_id if level == "cell" else None
        township_id = place_id if level == "township" else None
        key = (category_id, department_id, township_id, cell_id)
        if key in dismissed:
            continue
        place_cells = [cell_id] if cell_id else cells_of_township[township_id]
        if place_cells and all(
            index.route(category_id=category_id, cell_id=c, on=today).lead_department_id
            == department_id
            for c in place_cells
        ):
            continue
        suggestions.append(
            RuleSuggestion(
                category=categories[category_id],
                department=departments[department_id],
                township=townships.get(township_id) if township_id else None,
                cell=cells.get(cell_id) if cell_id else None,
                count=count,
                total=total,
                numbers=evidence[level, category_id, place_id, department_id],
            )
        )
        if key in existing:
            ruled.add(suggestions[-1].key)
    _attach_replaced_rules(suggestions, today)
    # The department's rule is there already: only ending an overlap of it is news.
    suggestions = [
        s for s in suggestions if s.key not in ruled or (s.rule is not None and s.replaces)
    ]
    _attach_rerouted_subcategories(suggestions, index, today, cells_of_township)
    suggestions.sort(key=lambda s: (-s.count, -s.share, s.category.code, str(s.scope)))
    return suggestions


def _same_place(rule: Responsibility, suggestion: RuleSuggestion) -> bool:
    if suggestion.cell:
        return rule.cell_id == suggestion.cell.pk
    return rule.cell_id is None and rule.township_id == suggestion.township.pk


def _attach_replaced_rules(suggestions: list[RuleSuggestion], today) -> None:
    """The rules each suggestion would replace, and the department's own rule in force,
    in one query for all of them."""
    if not suggestions:
        return
    condition = Q()
    for s in suggestions:
        place = Q(cell_id=s.cell.pk) if s.cell else Q(township_id=s.township.pk, cell=None)
        condition |= place & Q(category_id=s.category.pk)
    rules = list(
        Responsibility.objects.filter(condition, role=Responsibility.Role.LEAD)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=today))
        .select_related("department")
        .order_by("department__code")
    )
    for s in suggestions:
        here = [
            rule for rule in rules if rule.category_id == s.category.pk and _same_place(rule, s)
        ]
        s.replaces = [rule for rule in here if rule.department_id != s.department.pk]
        s.starting = [rule for rule in s.replaces if rule.valid_from and rule.valid_from >= today]
        s.rule = next(
            (
                rule
                for rule in here
                if rule.department_id == s.department.pk
                and (rule.valid_from is None or rule.valid_from <= today)
            ),
            None,
        )


def _attach_rerouted_subcategories(suggestions, index, today, cells_of_township) -> None:
    """Each suggestion's `reroutes`: the subcategories of its category that the list gives
    another lead in a cell of its place, where the new rule would outrank that rule (or
    is beside it: the rules accepting ends). From the router in memory; one query for the
    departments' names, none when nothing moves."""
    if not suggestions:
        return
    descendants = defaultdict(list)
    for category_id in index.parent_of:
        for ancestor_id in index.category_chain(category_id)[1:]:
            descendants[ancestor_id].append(category_id)
    moved = {}
    for s in suggestions:
        scope_rank = CELL_SCOPE if s.cell else TOWNSHIP_SCOPE
        place_cells = [s.cell.pk] if s.cell else cells_of_township[s.township.pk]
        moved[s.key] = []
        for category_id in descendants[s.category.pk]:
            level = (scope_rank, index.category_chain(category_id).index(s.category.pk))
            # The cells with rules of their own, and one of the others for them all.
            apart = index.cells_ruled_apart(category_id)
            alike = [cell_id for cell_id in place_cells if cell_id not in apart][:1]
            for cell_id in [cell_id for cell_id in place_cells if cell_id in apart] + alike:
                here = {"category_id": category_id, "cell_id": cell_id, "on": today}
                lead_id = index.route(**here).lead_department_id
                if lead_id not in (None, s.department.pk) and level <= index.deciding_level(**here):
                    moved[s.key].append((category_id, lead_id))
                    break
    leads = Department.objects.in_bulk({d for pairs in moved.values() for _c, d in pairs})
    for s in suggestions:
        s.reroutes = sorted(
            ((index.categories[c], leads[d]) for c, d in moved[s.key]),
            key=lambda pair: pair[0].code,
        )


def find_suggestion(key: str) -> RuleSuggestion | None:
    return next((s for s in rule_suggestions() if s.key == key), None)


@transaction.atomic
def rule_suggestion_accept(*, key: str, actor: User) -> Responsibility:
    """Create the lead rule of a current suggestion (or, where the department's rule is there
    already, keep it once the rules beside it are ended); its basis cites the cases.

    The suggestion is recomputed now, so the rule rests on the evidence as it stands.
    """
    if not actor.has_perm("departments.add_responsibility"):
        raise WorkflowError(_("Only an administrator may add responsibility rules."))
    suggestion = find_suggestion(key)
    if suggestion is None:
        raise WorkflowError(_("This suggestion no longer applies."))
    if suggestion.refusals:
        raise WorkflowError(suggestion.refusals[0])
    today = timezone.localdate()
    basis = _(
        "Data flywheel: %(department)s handled %(count)d of %(total)d closed fallback cases "
        "of this category here (%(numbers)s); accepted by %(who)s on %(date)s."
    ) % {
        "department": suggestion.department.name,
        "count": suggestion.count,
        "total": suggestion.total,
        "numbers": join_names(suggestion.numbers),
        "who": actor.username,
        "date": date_format(today),
    }
    for rule in suggestion.replaces:
        # Ends yesterday: from today the new rule alone names the lead here.
        rule.valid_to = today - timedelta(days=1)
        rule.save(update_fields=["valid_to"])
    if suggestion.replaces:
        basis += " " + _("It replaces the rule of %(departments)s.") % {
            "departments": join_names(rule.department.name for rule in suggestion.replaces)
        }
    if suggestion.rule is not None:
        # The department's own rule, the overlap's other half, now names the lead alone.
        kept = suggestion.rule
        kept.basis = f"{kept.basis}\n{basis}" if kept.basis else basis
        kept.save(update_fields=["basis"])
        return kept
    try:
        with transaction.atomic():
            return Responsibility.objects.create(
                category=suggestion.category,
                department=suggestion.department,
                township=suggestion.township,
                cell=suggestion.cell,
                role=Responsibility.Role.LEAD,
                basis=basis,
                valid_from=today,
            )
    except IntegrityError as error:
        raise WorkflowError(
            _("A rule for this category, department and place exists already.")
        ) from error


@transaction.atomic
def rule_suggestion_dismiss(*, key: str, actor: User, note: str = "") -> RuleSuggestionDismissal:
    """Remember that this suggestion is not wanted; it is not offered again."""
    if not actor.has_perm("departments.add_responsibility"):
        raise WorkflowError(_("Only an administrator may dismiss rule suggestions."))
    suggestion = find_suggestion(key)
    if suggestion is None:
        raise WorkflowError(_("This suggestion no longer applies."))
    dismissal, _created = RuleSuggestionDismissal.objects.get_or_create(
        category=suggestion.category,
        department=suggestion.department,
        township=suggestion.township,
        cell=suggestion.cell,
        defaults={"dismissed_by": actor, "note": note.strip()},
    )
    return dismissal
