"""The router of SPEC §3: who must act on a case of this category in this cell.

A read-only selector. The grid (as a shapely STRtree) and the responsibility list are
loaded once per process and reloaded when `RoutingStamp` says they changed, so routing a
case costs one small query for the stamp and no scan of cells or rules. The index also
keeps the categories and cells (without boundaries) that intake looks up.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

import shapely
from django.db import models, router
from django.utils.translation import gettext_lazy as _
from shapely.geometry import Point, shape
from shapely.strtree import STRtree

from departments.models import Category, GridCell, Responsibility, RoutingStamp


class FallbackReason(models.TextChoices):
    NO_RULE = "no_rule", _("no rule covers this category here")
    OVERLAP = "overlap", _("several departments are responsible")
    UNCLASSIFIED = "unclassified", _("no category was given")
    OUTSIDE_GRID = "outside_grid", _("the place is outside every grid cell")


# Scope ranks, most specific first (SPEC §3: cell > township > everywhere).
CELL_SCOPE, TOWNSHIP_SCOPE, EVERYWHERE_SCOPE = 0, 1, 2


@dataclass(frozen=True)
class Decision:
    lead_department_id: int | None
    assisting_department_ids: tuple[int, ...] = ()
    fallback_reason: str = ""
    candidate_department_ids: tuple[int, ...] = ()

    @property
    def is_fallback(self) -> bool:
        return self.lead_department_id is None


@dataclass(frozen=True)
class _Rule:
    responsibility_id: int
    department_id: int
    scope_rank: int
    scope_id: int | None
    is_lead: bool
    valid_from: date | None
    valid_to: date | None

    def applies(self, cell_id: int, township_id: int, on: date) -> bool:
        if self.valid_from and on < self.valid_from:
            return False
        if self.valid_to and on > self.valid_to:
            return False
        if self.scope_rank == CELL_SCOPE:
            return self.scope_id == cell_id
        if self.scope_rank == TOWNSHIP_SCOPE:
            return self.scope_id == township_id
        return True


@dataclass
class RoutingIndex:
    version: int
    cell_ids: list[int] = field(default_factory=list)
    cell_township_ids: list[int] = field(default_factory=list)
    township_of_cell: dict[int, int] = field(default_factory=dict)
    tree: STRtree | None = None
    parent_of: dict[int, int | None] = field(default_factory=dict)
    rules_by_category: dict[int, list[_Rule]] = field(default_factory=dict)
    # The catalogue as model instances (cells without their boundary), for intake to look
    # up what a report names without a query. Shared by every request of the process:
    # read them, never change them.
    categories: dict[int, Category] = field(default_factory=dict)
    category_by_code: dict[str, Category] = field(default_factory=dict)
    cells: dict[int, GridCell] = field(default_factory=dict)
    cell_by_code: dict[str, GridCell] = field(default_factory=dict)

    @classmethod
    def load(cls, version: int) -> RoutingIndex:
        index = cls(version=version)
        geometries = []
        using = router.db_for_read(GridCell)
        names = [f.attname for f in GridCell._meta.concrete_fields if f.attname != "boundary"]
        for boundary, *values in GridCell.objects.order_by("code").values_list("boundary", *names):
            cell = GridCell.from_db(using, names, values)  # the boundary stays deferred
            index.cells[cell.pk] = index.cell_by_code[cell.code] = cell
            index.cell_ids.append(cell.pk)
            index.cell_township_ids.append(cell.township_id)
            index.township_of_cell[cell.pk] = cell.township_id
            geometries.append(shape(boundary))
        index.tree = STRtree(geometries) if geometries else None
        for category in Category.objects.all():
            index.categories[category.pk] = index.category_by_code[category.code] = category
            index.parent_of[category.pk] = category.parent_id
        rules = defaultdict(list)
        for row in Responsibility.objects.values(
            "id",
            "category_id",
            "department_id",
            "township_id",
            "cell_id",
            "role",
            "valid_from",
            "valid_to",
        ):
            if row["cell_id"]:
                rank, scope_id = CELL_SCOPE, row["cell_id"]
            elif row["township_id"]:
                rank, scope_id = TOWNSHIP_SCOPE, row["township_id"]
            else:
                rank, scope_id = EVERYWHERE_SCOPE, None
            rules[row["category_id"]].append(
                _Rule(
                    responsibility_id=row["id"],
                    department_id=row["department_id"],
                    scope_rank=rank,
                    scope_id=scope_id,
                    is_lead=row["role"] == Responsibility.Role.LEAD,
                    valid_from=row["valid_from"],
                    valid_to=row["valid_to"],
                )
            )
        index.rules_by_category = dict(rules)
        return index

    def locate(self, lng: float, lat: float) -> int | None:
        """The id of the cell containing the point (on a shared edge, the lowest code)."""
        if self.tree is None:
            return None
        hits = self.tree.query(Point(lng, lat), predicate="intersects")
        if len(hits) == 0:
            return None
        return self.cell_ids[int(min(hits))]  # cells are loaded in code order

    def locate_many(self, lngs, lats) -> list[int | None]:
        """Vectorised `locate` for bulk work (seeding, benchmarks)."""
        located: list[int | None] = [None] * len(lngs)
        if self.tree is None:
            return located
        points = shapely.points(lngs, lats)
        point_idx, cell_idx = self.tree.query(points, predicate="intersects")
        for p, c in sorted(zip(point_idx.tolist(), cell_idx.tolist(), strict=True), reverse=True):
            located[p] = self.cell_ids[c]
        return located

    def nearest_township_id(self, lng: float, lat: float) -> int | None:
        """The township of the nearest cell: who owns a case reported outside the grid."""
        if self.tree is None:
            return None
        nearest = self.tree.nearest(Point(lng, lat))
        return None if nearest is None else self.cell_township_ids[int(nearest)]

    def find_category(self, code_or_id: str) -> Category | None:
        """The category with this code or, failing that, this id (as the report form and
        Open311 name them)."""
        return _find(code_or_id, self.category_by_code, self.categories)

    def find_cell(self, code_or_id: str) -> GridCell | None:
        """The grid cell with this code or, failing that, this id; its boundary is not
        loaded (the tree has it)."""
        return _find(code_or_id, self.cell_by_code, self.cells)

    def category_chain(self, category_id: int) -> list[int]:
        chain, seen = [], set()
        current: int | None = category_id
        while current is not None and current not in seen:
            chain.append(current)
            seen.add(current)
            current = self.parent_of.get(current)
        return chain

    def route(self, *, category_id: int | None, cell_id: int | None, on: date) -> Decision:
        if category_id is None:
            return Decision(None, fallback_reason=FallbackReason.UNCLASSIFIED)
        if cell_id is None or cell_id not in self.township_of_cell:
            return Decision(None, fallback_reason=FallbackReason.OUTSIDE_GRID)
        active = self._active_rules(category_id, cell_id, on)
        deciding = self._deciding_leads(active)
        if not deciding:
            return Decision(None, fallback_reason=FallbackReason.NO_RULE)
        leads = tuple(sorted({rule.department_id for rule in deciding}))
        if len(leads) > 1:
            return Decision(
                None, fallback_reason=FallbackReason.OVERLAP, candidate_department_ids=leads
            )
        assisting = tuple(d for d in self._assisting(active) if d != leads[0])
        return Decision(leads[0], assisting_department_ids=assisting)

    def assisting(
        self, *, category_id: int | None, cell_id: int | None, on: date
    ) -> tuple[int, ...]:
        """The departments the assist rules in force name for this category (or an
        ancestor) at this cell, by id: what `route` attaches to the lead it names, for a
        dispatcher to offer when a case is in the pool; empty without a category or a cell."""
        if category_id is None or cell_id not in self.township_of_cell:
            return ()
        return self._assisting(self._active_rules(category_id, cell_id, on))

    def deciding_rule(self, *, category_id: int, cell_id: int, on: date) -> int | None:
        """The Responsibility row that names the single lead `route` gives (to cite its
        basis); None when `route` names no single lead."""
        if cell_id not in self.township_of_cell:
            return None
        deciding = self._deciding_leads(self._active_rules(category_id, cell_id, on))
        if len({rule.department_id for rule in deciding}) != 1:
            return None
        return deciding[0].responsibility_id

    def deciding_level(self, *, category_id: int, cell_id: int, on: date) -> tuple[int, int] | None:
        """The level whose lead rules decide `route` here, as (scope rank, place of the
        rules' category in the case's chain, 0 for its own): a smaller one is more specific
        (SPEC §3). None when no lead rule applies, or without a cell."""
        if cell_id not in self.township_of_cell:
            return None
        active = self._active_rules(category_id, cell_id, on)
        for scope_rank in (CELL_SCOPE, TOWNSHIP_SCOPE, EVERYWHERE_SCOPE):
            for depth, rules in enumerate(active.values()):
                if any(r.is_lead and r.scope_rank == scope_rank for r in rules):
                    return scope_rank, depth
        return None

    def cells_ruled_apart(self, category_id: int) -> set[int]:
        """The cells that have a rule of their own for the category or an ancestor: every
        other cell of a township routes the category alike (its township's rules, then the
        district's), so that one of them stands for all."""
        return {
            rule.scope_id
            for cat_id in self.category_chain(category_id)
            for rule in self.rules_by_category.get(cat_id, ())
            if rule.scope_rank == CELL_SCOPE
        }

    def _active_rules(self, category_id: int, cell_id: int, on: date) -> dict[int, list[_Rule]]:
        """The rules in force at `cell_id` on `on`, by category of the chain, most specific
        category first."""
        township_id = self.township_of_cell[cell_id]
        return {
            cat_id: [
                rule
                for rule in self.rules_by_category.get(cat_id, ())
                if rule.applies(cell_id, township_id, on)
            ]
            for cat_id in self.category_chain(category_id)
        }

    @staticmethod
    def _assisting(active: dict[int, list[_Rule]]) -> tuple[int, ...]:
        """The departments of the assist rules among `active`, at any scope or level."""
        return tuple(
            sorted({r.department_id for rules in active.values() for r in rules if not r.is_lead})
        )

    @staticmethod
    def _deciding_leads(active: dict[int, list[_Rule]]) -> list[_Rule]:
        """The lead rules of the most specific level that has any (SPEC §3: the scope
        first, from cell to everywhere, then the category, from the case's own to its
        ancestors); empty when no rule names a lead."""
        for scope_rank in (CELL_SCOPE, TOWNSHIP_SCOPE, EVERYWHERE_SCOPE):
            for rules in active.values():
                leads = [r for r in rules if r.is_lead and r.scope_rank == scope_rank]
                if leads:
                    return leads
        return []


def written_id(value: str) -> int | None:
    """The id a select or a link holds, if `value` is one. ASCII digits only:
    str.isdigit() also says yes to "²", which int() refuses."""
    return int(value) if value.isascii() and value.isdigit() else None


def _find(code_or_id: str, by_code: dict, by_id: dict):
    value = str(code_or_id).strip()
    found = by_code.get(value)
    if found is None and (pk := written_id(value)) is not None:
        found = by_id.get(pk)
    return found


_lock = threading.Lock()
_index: RoutingIndex | None = None


def get_index() -> RoutingIndex:
    """This process's routing index, reloaded when the stamp in the database has moved.
    Intake hands the index's `version` on to `get_calendar`, so the stamp is read once per
    report."""
    global _index
    version = RoutingStamp.current()
    index = _index
    if index is not None and index.version == version:
        return index
    with _lock:
        if _index is None or _index.version != version:
            _index = RoutingIndex.load(version)
        return _index


def route(*, category_id: int | None, cell_id: int | None, on: date) -> Decision:
    return get_index().route(category_id=category_id, cell_id=cell_id, on=on)


def locate(lng: float, lat: float) -> int | None:
    return get_index().locate(lng, lat)
